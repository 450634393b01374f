using System.Globalization;
using Ferry.ControlStore;
using Ferry.Install;
using Ferry.Local;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using RelayService = Ferry.Relay.Relay;

namespace Ferry.Benchmarks;

/// <summary>
/// Like <see cref="RelayHarness"/>, but the relay reaches the target through a <see cref="FaultProxy"/>: a one-way
/// sync src → tgt configured through the public API, the relay hosted in this process. The scenarios of issue 4
/// (links that fail) use it; the benchmark's own clients still talk to both servers directly.
/// </summary>
public sealed class LinkHarness : IAsyncDisposable
{
    private readonly string _home;
    private readonly Store _store;
    private readonly ILoggerFactory _loggers;
    private RelayService? _relay;

    private LinkHarness(string home, Store store, ILoggerFactory loggers)
    {
        _home = home;
        _store = store;
        _loggers = loggers;
    }

    public RelayService Relay => _relay ?? throw new InvalidOperationException("The relay is not started.");

    public static async Task<LinkHarness> CreateAsync(BenchCluster cluster, string database, FaultProxy targetLink,
        IReadOnlyList<string> tables, CancellationToken ct)
    {
        var home = Path.Combine(Path.GetTempPath(), $"ferry-bench-{database}-{Guid.NewGuid().ToString("N")[..8]}");
        var store = await Store.CreateAsync(Path.Combine(home, "ferry.db"), ct);
        var loggers = LoggerFactory.Create(b => b
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })
            .SetMinimumLevel(LogLevel.Warning));
        var harness = new LinkHarness(home, store, loggers);
        try
        {
            var src = BenchRoles.FerryDatabase("src", cluster.Source, database);
            var direct = BenchRoles.FerryDatabase("tgt", cluster.Target, database);
            var tgt = direct with
            {
                Settings = new Dictionary<string, string>(direct.Settings) { ["port"] = targetLink.Port.ToString(CultureInfo.InvariantCulture) },
            };
            await RelayHarness.ConfigureAsync(store, src, tgt, direct, tables, ct);
            return harness;
        }
        catch
        {
            await harness.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts the relay and waits until its pair has connected and drained once.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        _relay = new RelayService(_store, _loggers);
        await _relay.StartAsync(ct);
        await _relay.Started.Task.WaitAsync(TimeSpan.FromSeconds(30), ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        while (!_relay.Status.Pairs.Values.Any(p => p.State == "replicating"))
            await Task.Delay(20, timeout.Token);
    }

    public string? PairError() =>
        _relay?.Status.Pairs.Values.FirstOrDefault(p => p.State != "replicating")?.LastError;

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
