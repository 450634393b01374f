using System.Globalization;
using Ferry.ControlStore;
using Ferry.Install;
using Ferry.Local;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using RelayService = Ferry.Relay.Relay;

namespace Ferry.Benchmarks;

/// <summary>
/// Ferry configured through its public API, exactly as <c>ferry add ...</c> would: a control store in a temporary
/// FERRY_HOME, the two databases as the restricted role, a dbgroup, a herd, a sync (checked, then installed), and
/// the relay hosted in this process. The scenarios of issue 4 (links that fail) put a <see cref="FaultProxy"/>
/// between the relay and the target (<see cref="ThroughLinkAsync"/>); the benchmark's own clients still talk to both
/// servers directly.
/// </summary>
public sealed class RelayHarness : IAsyncDisposable
{
    private readonly string _home;
    private readonly Store _store;
    private readonly ILoggerFactory _loggers;
    private readonly bool _throughLink;
    private RelayService? _relay;

    private RelayHarness(string home, Store store, ILoggerFactory loggers, bool throughLink)
    {
        _home = home;
        _store = store;
        _loggers = loggers;
        _throughLink = throughLink;
    }

    public RelayService Relay => _relay ?? throw new InvalidOperationException("The relay is not started.");

    /// <summary>Configures and installs a one-way sync source → target of <paramref name="tables"/>; does not start the relay.</summary>
    /// <param name="walCapture">the source captures by WAL (capture=wal): ferry's role gets REPLICATION and the tables'
    /// owner creates the publication, as the README says an operator does</param>
    public static Task<RelayHarness> CreateAsync(LocalServer source, LocalServer target, string database,
        IReadOnlyList<string> tables, CancellationToken ct, bool walCapture = false) =>
        CreateAsync(source, target, database, null, tables, ct, Role.Target, walCapture);

    /// <summary>
    /// As <see cref="CreateAsync(LocalServer, LocalServer, string, IReadOnlyList{string}, CancellationToken)"/>, with the
    /// target a second master (<see cref="Role.Source"/>: it keeps row versions and is captured too) or a replica.
    /// </summary>
    /// <param name="walCapture">both capture by WAL (capture=wal), each with its publication</param>
    public static Task<RelayHarness> CreateAsync(LocalServer source, LocalServer target, string database,
        IReadOnlyList<string> tables, Role targetRole, CancellationToken ct, bool walCapture = false) =>
        CreateAsync(source, target, database, null, tables, ct, targetRole, walCapture);

    /// <summary>As <see cref="CreateAsync(LocalServer, LocalServer, string, IReadOnlyList{string}, CancellationToken)"/>, with the relay reaching the target through <paramref name="targetLink"/>.</summary>
    public static Task<RelayHarness> ThroughLinkAsync(BenchCluster cluster, string database, FaultProxy targetLink,
        IReadOnlyList<string> tables, CancellationToken ct) =>
        CreateAsync(cluster.Source, cluster.Target, database, targetLink, tables, ct);

    private static async Task<RelayHarness> CreateAsync(LocalServer source, LocalServer target, string database,
        FaultProxy? targetLink, IReadOnlyList<string> tables, CancellationToken ct, Role targetRole = Role.Target, bool walCapture = false)
    {
        var home = Path.Combine(Path.GetTempPath(), $"ferry-bench-{database}-{Guid.NewGuid().ToString("N")[..8]}");
        var store = await Store.CreateAsync(Path.Combine(home, "ferry.db"), ct);
        // The relay's warnings (a failing pair) go to stderr, with the progress lines; stdout stays the summary.
        var loggers = LoggerFactory.Create(b => b
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })
            .SetMinimumLevel(LogLevel.Warning));
        var harness = new RelayHarness(home, store, loggers, targetLink is not null);
        try
        {
            var src = BenchRoles.FerryDatabase("src", source, database);
            var direct = BenchRoles.FerryDatabase("tgt", target, database);
            if (walCapture)
            {
                src = await CaptureByWalAsync(source, src, database, tables, ct);
                // A second master is read from too: it captures the same way.
                if (targetRole == Role.Source) direct = await CaptureByWalAsync(target, direct, database, tables, ct);
            }
            var tgt = targetLink is null ? direct : direct with
            {
                Settings = new Dictionary<string, string>(direct.Settings) { ["port"] = targetLink.Port.ToString(CultureInfo.InvariantCulture) },
            };
            await ConfigureAsync(store, src, tgt, direct, tables, targetRole, ct);
            return harness;
        }
        catch
        {
            await harness.DisposeAsync();
            throw;
        }
    }

    /// <summary>ferry's role gets REPLICATION and the tables' owner creates the publication, as the README says.</summary>
    private static async Task<Database> CaptureByWalAsync(LocalServer server, Database db, string database, IReadOnlyList<string> tables,
        CancellationToken ct)
    {
        await server.ExecuteAsync("postgres", $"ALTER ROLE {BenchRoles.Ferry} REPLICATION", ct);
        await server.ExecuteAsync(database, $"SET ROLE {BenchRoles.Owner}; CREATE PUBLICATION ferry FOR TABLE " +
                                            $"{string.Join(", ", tables)} WITH (publish_via_partition_root = true); RESET ROLE", ct);
        return db with { Settings = new Dictionary<string, string>(db.Settings) { ["capture"] = "wal" } };
    }

    /// <summary>
    /// Sync "s" from src to tgt as a user would set it up: checks, capture installed, configuration stored.
    /// <paramref name="tgtDirect"/> is how ferry's installer reaches the target when the relay goes through a proxy.
    /// </summary>
    private static async Task ConfigureAsync(Store store, Database src, Database tgt, Database tgtDirect,
        IEnumerable<string> tables, Role targetRole, CancellationToken ct)
    {
        await store.AddDatabaseAsync(src, ct);
        await store.AddDatabaseAsync(tgt, ct);
        await store.AddDbGroupAsync(new DbGroup("g", [new DbGroupMember("src", Role.Source), new DbGroupMember("tgt", targetRole)]), ct);
        await store.AddToHerdAsync("h", tables.Select(t => TableName.Parse(t)), ct);
        var herd = await store.GetHerdAsync("h", ct);
        var problems = await SyncInstaller.CheckAsync([src, tgtDirect], herd, Ferry.Postgres.LinkRetry.None, ct);
        if (problems.Count > 0)
            throw new InvalidOperationException("Ferry's checks failed:\n  " + string.Join("\n  ", problems));
        var capturing = targetRole == Role.Source ? new HashSet<string> { src.Name, tgt.Name } : new HashSet<string> { src.Name };
        await SyncInstaller.InstallAsync([src, tgtDirect], herd, capturing, Ferry.Postgres.LinkRetry.None, ct);
        await store.AddSyncAsync(new Sync("s", "h", "g", Resolve.ConflictRule.Latest, Active: true), ct);
    }

    /// <summary>Starts the relay and waits until its pair has connected and drained once.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        _relay = new RelayService(_store, _loggers);
        await _relay.StartAsync(ct);
        await _relay.Started.Task.WaitAsync(TimeSpan.FromSeconds(30), ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(_throughLink ? 60 : 30));
        while (!_relay.Status.Pairs.Values.Any(p => p.State == "replicating"))
        {
            // Through a fault proxy a first failure may be the link's; the pair retries, so keep waiting.
            if (!_throughLink && _relay.Status.Pairs.Values.FirstOrDefault(p => p.LastError is not null) is { } failed)
                throw new InvalidOperationException($"The relay's pair failed: {failed.LastError}");
            await Task.Delay(20, timeout.Token);
        }
    }

    /// <summary>The pair's last error, if it is not replicating: a benchmark that waits forever should say why.</summary>
    public string? PairError() => _relayProcess
        ? "see the relay's log: " + Tail(Path.Combine(_home, "ferry.log"))
        : _relay?.Status.Pairs.Values.FirstOrDefault(p => p.State != "replicating")?.LastError;

    /// <summary>
    /// Starts the relay as `ferry start` does, a process of its own on this configuration, as it runs in production.
    /// Hosted in this process, it would share the thread pool, its settings and the CPU accounting with the
    /// benchmark's own clients. The caller waits for the target to catch up to know it replicates.
    /// </summary>
    public async Task StartProcessAsync(CancellationToken ct)
    {
        var (exit, output) = await CliAsync(ct, "start");
        if (exit != 0) throw new InvalidOperationException($"ferry start failed ({exit}): {output}");
        _relayProcess = true;
    }

    private bool _relayProcess;

    /// <summary>The relay process's pid while it runs (<see cref="StartProcessAsync"/>), for its CPU time.</summary>
    public int? ProcessId => _relayProcess ? ProcessCpu.RelayPid(_home) : null;

    private async Task<(int Exit, string Output)> CliAsync(CancellationToken ct, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Ferry.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["FERRY_HOME"] = _home;
        using var p = System.Diagnostics.Process.Start(psi) ?? throw new InvalidOperationException("Could not run ferry.");
        var output = p.StandardOutput.ReadToEndAsync(ct);
        var error = p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        return (p.ExitCode, await output + await error);
    }

    private static string Tail(string path)
    {
        if (!File.Exists(path)) return "(no log)";
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var r = new StreamReader(s);
        var text = r.ReadToEnd();
        return text.Length > 2000 ? text[^2000..] : text;
    }

    /// <summary>The relay's run history since <paramref name="sinceId"/>: rows, chunks and round trips per chunk of each drain.</summary>
    public async Task<List<(long Id, long Rows, long Chunks, double? RoundTripsPerChunk)>> RunsAsync(long sinceId, CancellationToken ct)
    {
        await using var c = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(_home, "ferry.db"), Mode = SqliteOpenMode.ReadOnly, Pooling = false,
        }.ToString());
        await c.OpenAsync(ct);
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id, rows, chunks, round_trips_per_chunk FROM run_history WHERE id > $id ORDER BY id";
        cmd.Parameters.AddWithValue("$id", sinceId);
        var runs = new List<(long, long, long, double?)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            runs.Add((r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.IsDBNull(3) ? null : r.GetDouble(3)));
        return runs;
    }

    public async Task StopAsync(CancellationToken ct)
    {
        if (_relayProcess)
        {
            _relayProcess = false;
            var (exit, output) = await CliAsync(ct, "stop");
            if (exit != 0) throw new InvalidOperationException($"ferry stop failed ({exit}): {output}");
        }
        if (_relay is null) return;
        await _relay.StopAsync(ct);
        _relay.Dispose();
        _relay = null;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync(CancellationToken.None);
        }
        finally
        {
            _store.Dispose();
            _loggers.Dispose();
            try
            {
                Directory.Delete(_home, recursive: true);
            }
            catch (IOException)
            {
                // A temporary folder left behind is harmless.
            }
        }
    }
}
