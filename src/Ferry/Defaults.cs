namespace Ferry;

/// <summary>Every default, and every FERRY_* environment variable that overrides one.</summary>
public static class Defaults
{
    /// <summary>Where the control store, the relay's pid file and its log live.</summary>
    public static string Home =>
        Environment.GetEnvironmentVariable("FERRY_HOME") is { Length: > 0 } home
            ? home
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".ferry");

    public static string StorePath => Path.Combine(Home, "ferry.db");

    public static string RelayStatePath => Path.Combine(Home, "relay.json");

    public static string LogPath => Path.Combine(Home, "ferry.log");

    /// <summary>The schema ferry installs in every database.</summary>
    public const string Schema = "ferry";

    /// <summary>
    /// Change-log entries one fold call takes per table (Capture/ChangeLog): about a second's work, well inside the
    /// relay's command timeout.
    /// </summary>
    public static int FoldLimit => Math.Max(1, Int("FERRY_FOLD_LIMIT", 100_000));

    /// <summary>
    /// Rows per committed slice of a one-time copy (Copy/OneTimeCopy): what a link that resets mid-copy costs again,
    /// against a few round trips per slice.
    /// </summary>
    public static int CopySliceRows => Math.Max(1, Int("FERRY_COPY_SLICE_ROWS", 100_000));

    /// <summary>
    /// How many times a one-time copy starts, resuming after each link failure (with the relay's backoff), before it
    /// gives up and leaves the resuming to the next run of the command.
    /// </summary>
    public static int CopyAttempts => Math.Max(1, Int("FERRY_COPY_ATTEMPTS", 50));

    /// <summary>The NOTIFY channel the capture triggers wake the relay on.</summary>
    public const string Channel = "ferry";

    /// <summary>Notifications are lost when a link drops, so every pair also polls.</summary>
    public static TimeSpan PollInterval => Seconds("FERRY_POLL_SECONDS", 1.0);

    /// <summary>
    /// Least time between the starts of a pair's batches while changes keep coming: under a steady write load one
    /// batch every 50 ms carries many commits at the cost of one, instead of a batch per commit. The first batch after
    /// a wakeup starts at once.
    /// </summary>
    public static TimeSpan MinBatchInterval => TimeSpan.FromMilliseconds(Int("FERRY_MIN_BATCH_MS", 50));

    /// <summary>
    /// The most the interval between batches grows to while every batch finds more changes: the added delay a steady
    /// write load sees, traded for fewer, larger batches.
    /// </summary>
    public static TimeSpan MaxBatchInterval => TimeSpan.FromMilliseconds(Math.Max(Int("FERRY_MAX_BATCH_MS", 200), Int("FERRY_MIN_BATCH_MS", 50)));

    /// <summary>
    /// Most rows per chunk: one target transaction, one cursor commit. The relay adapts the size of a pair's chunks
    /// between <see cref="ChunkRowsMin"/> and this to the link (see Relay.ChunkSizer): large chunks spend fewer round
    /// trips per row on a long link, small ones lose less to a reset.
    /// </summary>
    public static int ChunkRows => Int("FERRY_CHUNK_ROWS", 100_000);

    /// <summary>Fewest rows per chunk the adaptation goes down to (a chunk holds fewer only when fewer are waiting).</summary>
    public static int ChunkRowsMin => Int("FERRY_CHUNK_ROWS_MIN", 1_000);

    /// <summary>About the most bytes a chunk carries, whatever its rows: wide rows make shorter chunks.</summary>
    public static long ChunkBytes => Long("FERRY_CHUNK_BYTES", 64L * 1024 * 1024);

    /// <summary>How long a silent link may stay silent before it is declared dead.</summary>
    public static TimeSpan DeadLinkTimeout => Seconds("FERRY_DEAD_LINK_SECONDS", 30);

    public static TimeSpan ConnectTimeout => Seconds("FERRY_CONNECT_SECONDS", 10);

    /// <summary>Longest pause between retries of a failing pair.</summary>
    public static TimeSpan MaxBackoff => Seconds("FERRY_MAX_BACKOFF_SECONDS", 30);

    /// <summary>
    /// How long measuring a pair's lag waits for each database (connect, then the count): the relay while a pair
    /// fails, and `ferry status` when no relay runs. A database that does not answer by then keeps its last figure, stale.
    /// </summary>
    public static TimeSpan LagProbeTimeout => Seconds("FERRY_LAG_PROBE_SECONDS", 3);

    /// <summary>The relay's HTTP endpoint (status JSON, metrics, a page); 0 picks a free port.</summary>
    public static int HttpPort => Int("FERRY_HTTP_PORT", 0);

    public static TimeSpan LockTimeout => Seconds("FERRY_LOCK_TIMEOUT_SECONDS", 10);

    /// <summary>A duration as PostgreSQL's timeout settings take it: whole milliseconds.</summary>
    public static string Millis(TimeSpan t) => ((int)t.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// How long a tombstone outlives the last pair that passed it: a change older than this that has not arrived
    /// by then is presumed never to arrive. A database away longer must be re-copied.
    /// </summary>
    public static TimeSpan TombstoneRetention => Seconds("FERRY_TOMBSTONE_RETENTION_SECONDS", 7 * 24 * 3600);

    public static TimeSpan PurgeInterval => Seconds("FERRY_PURGE_SECONDS", 600);

    private static TimeSpan Seconds(string variable, double fallback) =>
        TimeSpan.FromSeconds(double.TryParse(Environment.GetEnvironmentVariable(variable),
            System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) && v > 0
            ? v
            : fallback);

    private static int Int(string variable, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(variable), out var v) && v > 0 ? v : fallback;

    private static long Long(string variable, long fallback) =>
        long.TryParse(Environment.GetEnvironmentVariable(variable), out var v) && v > 0 ? v : fallback;
}
