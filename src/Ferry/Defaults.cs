namespace Ferry;

/// <summary>Every default, and every FERRY_* environment variable that overrides one.</summary>
public static class Defaults
{
    /// <summary>Where the control store, the relay's pid file and its log live.</summary>
    public static string Home =>
        Settings.Text("FERRY_HOME") is { } home
            ? home
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".ferry");

    /// <summary>The SQLite store's file, and the key every command opens the home's store by, whichever kind it is.</summary>
    public static string StorePath => Path.Combine(Home, "ferry.db");

    /// <summary>Written by <c>ferry install dbname=…</c>: the PostgreSQL control store this home uses instead.</summary>
    public static string StorePointerPath => Path.Combine(Home, ControlStore.StoreAddress.PointerName);

    /// <summary>
    /// A PostgreSQL control store named in the environment (a libpq URI or key=value words), over the home's pointer
    /// file and ferry.db: how a second relay host reaches the store the first one installed.
    /// </summary>
    public static ControlStore.StoreAddress? StoreSetting =>
        Settings.Connection("FERRY_STORE", text => ControlStore.StoreAddress.Parse(text, "FERRY_STORE"));

    public static string RelayStatePath => Path.Combine(Home, "relay.json");

    public static string LogPath => Path.Combine(Home, "ferry.log");

    /// <summary>The schema ferry installs in every database.</summary>
    public const string Schema = "ferry";

    /// <summary>
    /// Change-log entries one fold call takes per table (Capture/ChangeLog): about a second's work, well inside the
    /// relay's command timeout.
    /// </summary>
    public static int FoldLimit => Settings.Int("FERRY_FOLD_LIMIT", 100_000, 1, 100_000_000);

    /// <summary>
    /// Rows per committed slice of a one-time copy (Copy/OneTimeCopy): what a link that resets mid-copy costs again,
    /// against a few round trips per slice.
    /// </summary>
    public static int CopySliceRows => Settings.Int("FERRY_COPY_SLICE_ROWS", 100_000, 1, 100_000_000);

    /// <summary>
    /// How many times a one-time copy starts, resuming after each link failure (with the relay's backoff), before it
    /// gives up and leaves the resuming to the next run of the command.
    /// </summary>
    public static int CopyAttempts => Settings.Int("FERRY_COPY_ATTEMPTS", 50, 1, 1_000_000);

    /// <summary>
    /// How copies and compares show their progress: auto (a live line on a terminal, plain lines otherwise), live,
    /// plain (a line every <see cref="ProgressInterval"/> and at each table's end), or off.
    /// </summary>
    public static string ProgressMode => Settings.Choice("FERRY_PROGRESS", "auto", "auto", "live", "plain", "off");

    /// <summary>Time between plain progress lines of a copy or compare, and between its progress records in the control store.</summary>
    public static TimeSpan ProgressInterval => Settings.Seconds("FERRY_PROGRESS_SECONDS", 5, 0.05, 3600);

    /// <summary>
    /// How long a setup command (add database, add sync, upgrade, compare, ...) keeps retrying a step whose link keeps
    /// failing (a reset, a timeout, a server restarting), counted from the step's first failure and started again
    /// whenever it gets something done. 0: no retry, fail at the first link failure.
    /// </summary>
    public static TimeSpan SetupRetry => Settings.Seconds("FERRY_SETUP_RETRY_SECONDS", 120, 0, 86_400);

    /// <summary>The NOTIFY channel the capture triggers wake the relay on.</summary>
    public const string Channel = "ferry";

    /// <summary>
    /// Relays sharing a PostgreSQL store: how long a sync's lease lasts unless renewed. A relay heartbeats (renews) every
    /// third of it; a killed or cut-off relay's syncs are taken over by the others within about this time.
    /// </summary>
    public static TimeSpan LeaseTime => Settings.Seconds("FERRY_LEASE_SECONDS", 15, 1, 3600);

    public static TimeSpan HeartbeatInterval => LeaseTime / 3;

    /// <summary>Databases (comma-separated) whose syncs this relay takes first; `ferry start --prefers=` sets it.</summary>
    public static IReadOnlyList<string> RelayPrefers =>
        (Settings.Text("FERRY_RELAY_PREFERS") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Notifications are lost when a link drops, so every pair also polls.</summary>
    public static TimeSpan PollInterval => Settings.Seconds("FERRY_POLL_SECONDS", 1.0, 0.01, 3600);

    /// <summary>
    /// Least time between the starts of a pair's batches while changes keep coming: under a steady write load one
    /// batch every 50 ms carries many commits at the cost of one, instead of a batch per commit. The first batch after
    /// a wakeup starts at once.
    /// </summary>
    public static TimeSpan MinBatchInterval => TimeSpan.FromMilliseconds(Settings.Int("FERRY_MIN_BATCH_MS", 50, 1, 600_000));

    /// <summary>
    /// The most the interval between batches grows to while every batch finds more changes: the added delay a steady
    /// write load sees, traded for fewer, larger batches.
    /// </summary>
    public static TimeSpan MaxBatchInterval => TimeSpan.FromMilliseconds(Math.Max(Settings.Int("FERRY_MAX_BATCH_MS", 200, 1, 600_000), MinBatchInterval.TotalMilliseconds));

    /// <summary>
    /// Most rows per chunk: one target transaction, one cursor commit. The relay adapts the size of a pair's chunks
    /// between <see cref="ChunkRowsMin"/> and this to the link (see Relay.ChunkSizer): large chunks spend fewer round
    /// trips per row on a long link, small ones lose less to a reset.
    /// </summary>
    public static int ChunkRows => Settings.Int("FERRY_CHUNK_ROWS", 100_000, 1, 10_000_000);

    /// <summary>Fewest rows per chunk the adaptation goes down to (a chunk holds fewer only when fewer are waiting).</summary>
    public static int ChunkRowsMin => Settings.Int("FERRY_CHUNK_ROWS_MIN", 1_000, 1, 10_000_000);

    /// <summary>About the most bytes a chunk carries, whatever its rows: wide rows make shorter chunks.</summary>
    public static long ChunkBytes => Settings.Long("FERRY_CHUNK_BYTES", 64L * 1024 * 1024, 1024, 1L << 30);

    /// <summary>How long a silent link may stay silent before it is declared dead.</summary>
    public static TimeSpan DeadLinkTimeout => Settings.Seconds("FERRY_DEAD_LINK_SECONDS", 30, 1, 86_400);

    public static TimeSpan ConnectTimeout => Settings.Seconds("FERRY_CONNECT_SECONDS", 10, 1, 3600);

    /// <summary>Longest pause between retries of a failing pair.</summary>
    public static TimeSpan MaxBackoff => Settings.Seconds("FERRY_MAX_BACKOFF_SECONDS", 30, 0.1, 86_400);

    /// <summary>
    /// How long measuring a pair's lag waits for each database (connect, then the count): the relay while a pair
    /// fails, and `ferry status` when no relay runs. A database that does not answer by then keeps its last figure, stale.
    /// </summary>
    public static TimeSpan LagProbeTimeout => Settings.Seconds("FERRY_LAG_PROBE_SECONDS", 3, 0.1, 60);

    /// <summary>
    /// How often the relay samples each pair's lag into the hour of history the page plots and /status serves. Taken
    /// from the figures it keeps anyway: sampling queries no database.
    /// </summary>
    public static TimeSpan LagSampleInterval => Settings.Seconds("FERRY_LAG_SAMPLE_SECONDS", 15, 0.1, 3600);

    /// <summary>The relay's HTTP endpoint (status JSON, metrics, a page); 0 picks a free port.</summary>
    public static int HttpPort => Settings.Int("FERRY_HTTP_PORT", 0, 0, 65_535, "a free port");

    public static TimeSpan LockTimeout => Settings.Seconds("FERRY_LOCK_TIMEOUT_SECONDS", 10, 0.001, 3600);

    /// <summary>
    /// How long an apply into a database captured by WAL waits for the capture to log what committed there before
    /// it gives up and retries the chunk (ferry.wal_wait): a stopped or stalled capture fails the pair, never hangs it.
    /// </summary>
    public static TimeSpan WalWaitTimeout => Settings.Seconds("FERRY_WAL_WAIT_SECONDS", 10, 0.01, 3600);

    /// <summary>How long WAL capture's stream may deliver nothing while its database writes WAL before it is read again.</summary>
    public static TimeSpan WalStallTimeout => Settings.Seconds("FERRY_WAL_STALL_SECONDS", 60, 1, 86_400);

    /// <summary>A duration as PostgreSQL's timeout settings take it: whole milliseconds.</summary>
    public static string Millis(TimeSpan t) => ((int)t.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// How long a tombstone outlives the last pair that passed it: a change older than this that has not arrived
    /// by then is presumed never to arrive. A database away longer must be re-copied.
    /// </summary>
    public static TimeSpan TombstoneRetention => Settings.Seconds("FERRY_TOMBSTONE_RETENTION_SECONDS", 7 * 24 * 3600, 60, 10 * 365 * 86_400);

    public static TimeSpan PurgeInterval => Settings.Seconds("FERRY_PURGE_SECONDS", 600, 1, 7 * 86_400);

    /// <summary>
    /// Where the relay's HTTP endpoint listens. Loopback by default: the endpoint has no authentication, and anyone who
    /// reaches it may kick a sync. Another address (0.0.0.0 for a container's published port, a private interface for
    /// a Prometheus server) is the operator's choice, behind their firewall.
    /// </summary>
    public static System.Net.IPAddress HttpBind => Settings.Address("FERRY_HTTP_BIND", "127.0.0.1");

    /// <summary>The relay's log lines: text for people, json (one object per line) for a log collector.</summary>
    public static string LogFormat => Settings.Choice("FERRY_LOG_FORMAT", "text", "text", "json");

    /// <summary>Variables ferry sets for the relay it starts in the background; not settings.</summary>
    private static readonly string[] Internal = ["FERRY_LOG", "FERRY_DETACHED"];

    /// <summary>
    /// Reads every setting once (every public static property here, so a setting added later is checked too), so
    /// that a bad value stops any verb before it does anything, rather than a relay hours later when a pair first
    /// needs it. Returns the FERRY_* variables that are set but are no setting (a misspelt name would otherwise
    /// change nothing, silently).
    /// </summary>
    public static IReadOnlyList<string> Check()
    {
        foreach (var property in typeof(Defaults).GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static))
        {
            try
            {
                property.GetValue(null);
            }
            catch (System.Reflection.TargetInvocationException e) when (e.InnerException is SettingException bad)
            {
                throw bad;
            }
        }
        if (ChunkRowsMin > ChunkRows && Settings.Text("FERRY_CHUNK_ROWS_MIN") is not null)
            throw new SettingException($"FERRY_CHUNK_ROWS_MIN={ChunkRowsMin} is more than FERRY_CHUNK_ROWS={ChunkRows}: the fewest " +
                                       "rows per chunk cannot exceed the most. Lower FERRY_CHUNK_ROWS_MIN or raise FERRY_CHUNK_ROWS.");
        if (Settings.Text("FERRY_MAX_BATCH_MS") is not null
            && Settings.Int("FERRY_MAX_BATCH_MS", 200, 1, 600_000) < MinBatchInterval.TotalMilliseconds)
            throw new SettingException($"FERRY_MAX_BATCH_MS is less than FERRY_MIN_BATCH_MS={MinBatchInterval.TotalMilliseconds}: " +
                                       "the interval between batches grows from the least to the most. Raise FERRY_MAX_BATCH_MS.");
        var known = Settings.Known.Concat(Internal).ToHashSet(StringComparer.Ordinal);
        // In the file, unlike the environment (which other programs share), a name that is no setting is a mistake.
        var settings = Settings.Known.ToHashSet(StringComparer.Ordinal);
        foreach (var (name, line) in ConfigFile.Names().Where(n => !settings.Contains(n.Name)))
            throw new SettingException($"{ConfigFile.Path} line {line}: {name} is no ferry setting" +
                                       (Nearest(name) is { } meant ? $" (did you mean {meant}?)" : "") + ". Correct it or remove the line.");
        return Environment.GetEnvironmentVariables().Keys.Cast<string>()
            .Where(n => n.StartsWith("FERRY_", StringComparison.Ordinal) && !known.Contains(n))
            .Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>The setting whose name is nearest to <paramref name="name"/> (a typo's likely intent), if one is near.</summary>
    public static string? Nearest(string name) =>
        Settings.Known.Select(k => (k, d: Distance(name, k))).Where(x => x.d <= 3).OrderBy(x => x.d).Select(x => x.k).FirstOrDefault();

    private static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var (diagonal, row0) = (row[0], i);
            row[0] = row0;
            for (var j = 1; j <= b.Length; j++)
            {
                var next = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                (diagonal, row[j]) = (row[j], next);
            }
        }
        return row[b.Length];
    }
}
