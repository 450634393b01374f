using Ferry.ControlStore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ferry.Relay;

/// <summary>
/// The relay: one worker per pair of every active sync, one listener per source database, and the HTTP endpoint.
/// It holds no replication state of its own (DESIGN invariant 7): kill it at any instant and start it again.
/// </summary>
public sealed partial class Relay(Store store, ILoggerFactory loggers) : BackgroundService
{
    private readonly ILogger _logger = loggers.CreateLogger("ferry.relay");
    private readonly List<PairWorker> _workers = [];

    public RelayStatus Status { get; } = new(store);

    public IReadOnlyList<PairWorker> Workers => _workers;

    /// <summary>Set once the workers are started; `ferry start` waits for it.</summary>
    public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Kick(string? sync)
    {
        var rung = 0;
        foreach (var w in _workers.Where(w => sync is null || w.Pair.Sync == sync))
        {
            w.Wakeup.Kick();
            rung++;
        }
        return rung;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var tasks = new List<Task>();
        var wakeupsBySource = new Dictionary<string, List<Wakeup>>();
        var databases = new Dictionary<string, Database>();
        var plainTargets = await store.PlainTargetsAsync(stoppingToken);
        // Databases some pair reads from, in any sync: a column only such a target has holds its tables (PairSetup).
        var readFrom = (await store.ListSyncGroupsAsync(stoppingToken)).SelectMany(s => Sync.PairsOf(s.Sync, s.Group))
            .Select(p => p.Source).ToHashSet();
        foreach (var sync in (await store.ListSyncsAsync(stoppingToken)).Where(s => s.Active))
        {
            var group = await store.GetDbGroupAsync(sync.DbGroup, stoppingToken);
            var herd = await store.GetHerdAsync(sync.Herd, stoppingToken);
            foreach (var pair in Sync.PairsOf(sync, group))
            {
                var source = databases.TryGetValue(pair.Source, out var s) ? s : databases[pair.Source] = await store.GetDatabaseAsync(pair.Source, stoppingToken);
                var target = databases.TryGetValue(pair.Target, out var t) ? t : databases[pair.Target] = await store.GetDatabaseAsync(pair.Target, stoppingToken);
                var wakeup = new Wakeup();
                var worker = new PairWorker(new PairSetup(pair, sync, group, herd, source, target)
                    {
                        TargetKeepsVersions = !plainTargets.Contains(pair.Target),
                        TargetIsRead = readFrom.Contains(pair.Target),
                    }, wakeup, Status,
                    loggers.CreateLogger("ferry.pair"));
                _workers.Add(worker);
                if (!wakeupsBySource.TryGetValue(pair.Source, out var list)) wakeupsBySource[pair.Source] = list = [];
                list.Add(wakeup);
            }
        }
        // Changes applied to a database that pairs of another sync read from (makedelta: chains, rings) are theirs to
        // forward at once, since ferry's own writes do not NOTIFY. Within one sync every source reaches every
        // database directly, so there is nothing to forward.
        foreach (var w in _workers)
        {
            var downstream = _workers.Where(d => d.Pair.Source == w.Pair.Target && d.Pair.Sync != w.Pair.Sync)
                .Select(d => d.Wakeup).ToList();
            if (downstream.Count > 0)
                w.Applied += () =>
                {
                    foreach (var d in downstream) d.Ring();
                };
        }
        await Status.SeedAsync(_workers.Select(w => w.Pair).ToList(), stoppingToken);
        foreach (var (name, wakeups) in wakeupsBySource)
            tasks.Add(Task.Run(() => new SourceListener(databases[name], wakeups, loggers.CreateLogger("ferry.listen")).RunAsync(stoppingToken), stoppingToken));
        foreach (var (name, wakeups) in wakeupsBySource.Where(s => databases[s.Key].CapturesWal))
            tasks.Add(CaptureWalAsync(databases[name], wakeups, stoppingToken));
        foreach (var w in _workers)
            tasks.Add(Task.Run(() => w.RunAsync(stoppingToken), stoppingToken));
        LogStarted(_workers.Count, wakeupsBySource.Count);
        Started.TrySetResult();
        tasks.Add(PruneHistoryAsync(stoppingToken));
        tasks.Add(new TombstonePurger(store, loggers.CreateLogger("ferry.purge")).RunAsync(stoppingToken));
        try
        {
            await Task.WhenAll(tasks);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
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

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Relay started: {Pairs} pairs, {Sources} source listeners")]
    private partial void LogStarted(int pairs, int sources);
}
