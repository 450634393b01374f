using Ferry.ControlStore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ferry.Relay;

/// <summary>
/// The relay: one worker per pair of every active sync, one <see cref="RelaySource"/> (listener) per source database,
/// and the HTTP endpoint. The set of pairs follows the control store: <see cref="ReloadAsync"/> starts, stops and
/// restarts only the pairs whose configuration changed. It holds no replication state of its own (DESIGN invariant
/// 7): kill it at any instant and start it again.
/// </summary>
public sealed partial class Relay(Store store, ILoggerFactory loggers) : BackgroundService
{
    private readonly ILogger _logger = loggers.CreateLogger("ferry.relay");

    // Replaced whole under _reloading, read without a lock: kicks, forwarding and the endpoint see one set or the next.
    private IReadOnlyDictionary<Pair, RunningPair> _running = new Dictionary<Pair, RunningPair>();
    private readonly Dictionary<string, RelaySource> _sources = [];
    private readonly SemaphoreSlim _reloading = new(1, 1);
    private CancellationToken _stopping;

    public RelayStatus Status { get; } = new(store);

    /// <summary>The pairs running now, in the order they were started.</summary>
    public IReadOnlyList<PairWorker> Workers => _running.Values.OrderBy(r => r.Order).Select(r => r.Worker).ToList();

    /// <summary>Set once the workers are started; `ferry start` waits for it.</summary>
    public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Kick(string? sync)
    {
        var rung = 0;
        foreach (var w in Workers.Where(w => sync is null || w.Pair.Sync == sync))
        {
            w.Wakeup.Kick();
            rung++;
        }
        return rung;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _stopping = stoppingToken;
        await _reloading.WaitAsync(stoppingToken);
        try
        {
            await ApplyAsync(await FirstPlanAsync(stoppingToken), stoppingToken);
        }
        finally
        {
            _reloading.Release();
        }
        LogStarted(_running.Count, _sources.Count);
        Started.TrySetResult();
        var tasks = new List<Task>
        {
            PruneHistoryAsync(stoppingToken),
            Status.SampleLagAsync(stoppingToken),
            new TombstonePurger(store, loggers.CreateLogger("ferry.purge")).RunAsync(stoppingToken),
            KeepLeasesAsync(stoppingToken),
        };
        try
        {
            await Task.WhenAll(tasks);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        // Every pair's and source's token is linked to stoppingToken: they are ending already; wait for them here so
        // the host's shutdown timeout covers their chunks in flight, as when they were the service's own tasks.
        await _reloading.WaitAsync(CancellationToken.None);
        await Task.WhenAll(_running.Values.Select(r => r.StopAsync(TimeSpan.Zero)).Concat(_sources.Values.Select(s => s.StopAsync())));
        await LeaveAsync();
    }

    private async Task PruneHistoryAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await store.PruneHistoryAsync(TimeSpan.FromDays(7), ct);
                await Task.Delay(TimeSpan.FromHours(1), ct);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>The control store: the status endpoint shows the copies that other processes record there.</summary>
    public Store Store => store;

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Relay started: {Pairs} pairs, {Sources} source listeners")]
    private partial void LogStarted(int pairs, int sources);
}
