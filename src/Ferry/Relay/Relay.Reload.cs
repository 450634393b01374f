using Microsoft.Extensions.Logging;

namespace Ferry.Relay;

/// <summary>
/// The relay's set of pairs follows the control store without a restart: SIGHUP, `ferry reload` (POST /reload) and
/// the verbs that change the configuration ask for a reload, which touches only what changed. Pairs and listeners
/// of the other syncs keep their connections, positions in memory and wakeups.
/// </summary>
public sealed partial class Relay
{
    /// <summary>How long a stopping pair may take to commit its batch in flight before that batch is abandoned.</summary>
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(10);

    private long _started;

    /// <summary>
    /// Reads the control store and brings the running pairs in line with it: pairs of syncs added or resumed start;
    /// those of syncs removed or paused stop (their batch in flight first commits); a pair whose configuration changed
    /// (<see cref="RelayPlan.Definition(PairSetup)"/>) is started again; the rest are left running. Reloads run one
    /// at a time, after the relay has started.
    /// </summary>
    public async Task<ReloadReport> ReloadAsync(CancellationToken ct)
    {
        await Started.Task.WaitAsync(ct);
        await _reloading.WaitAsync(ct);
        try
        {
            if (_stopping.IsCancellationRequested)
                throw new FerryException("The relay is stopping; it reads the configuration again when it starts.");
            // Read all of it before changing anything: a store that cannot be read leaves every pair as it was.
            // Several relays on one store: only the syncs this one holds leases on (the next heartbeat may change them).
            var plan = (await RelayPlan.ReadAsync(store, ct)).Only(_held);
            var report = await ApplyAsync(plan, _stopping);
            LogReloaded(report.ToString());
            return report;
        }
        finally
        {
            _reloading.Release();
        }
    }

    /// <summary>Called with <see cref="_reloading"/> held: at start, with nothing running, and on each reload.</summary>
    /// <param name="grace">how long a stopping pair's batch in flight may take to commit</param>
    private async Task<ReloadReport> ApplyAsync(RelayPlan plan, CancellationToken ct, TimeSpan? grace = null)
    {
        var before = _running;
        var next = new Dictionary<Pair, RunningPair>();
        var stopping = new List<RunningPair>();
        var starting = new List<PairSetup>();
        foreach (var (pair, running) in before)
        {
            if (plan.Pairs.TryGetValue(pair, out var setup) && RelayPlan.Definition(setup) == running.Definition) next[pair] = running;
            else stopping.Add(running);
        }
        starting.AddRange(plan.Pairs.Where(p => !next.ContainsKey(p.Key)).Select(p => p.Value));

        await Task.WhenAll(stopping.Select(r => r.StopAsync(grace ?? StopGrace)));
        // The endpoint lists the pairs left running from now on, not those stopped while the others start.
        _running = new Dictionary<Pair, RunningPair>(next);
        foreach (var r in stopping)
        {
            if (_sources.TryGetValue(r.Worker.Pair.Source, out var source)) source.Listener.Remove(r.Worker.Wakeup);
            // A pair that is gone leaves the status and the metrics; one started again keeps its figures.
            if (!plan.Pairs.ContainsKey(r.Worker.Pair)) Status.Forget(r.Worker.Pair);
        }

        var listeners = new List<string>();
        // WAL capture reads every herd table some pair reads from the source: a sync that adds tables restarts it.
        var tables = plan.Pairs.Values.GroupBy(s => s.Pair.Source)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<TableName>)g.SelectMany(s => s.Herd.Tables).Distinct().ToList());
        foreach (var (name, source) in _sources.ToList())
        {
            var wanted = plan.Sources.GetValueOrDefault(name);
            if (wanted is not null && RelaySource.DefinitionOf(wanted, tables.GetValueOrDefault(name) ?? []) == source.Definition) continue;
            // Pairs read from a source only through the settings they were built with: those that still do were
            // stopped above with it (the source's connection is part of their definition).
            await source.StopAsync();
            _sources.Remove(name);
            if (wanted is null) listeners.Add($"listener on {name} stopped");
        }
        foreach (var (name, db) in plan.Sources.Where(s => !_sources.ContainsKey(s.Key)))
        {
            _sources[name] = RelaySource.Start(db, tables.GetValueOrDefault(name) ?? [], slot => Status.Slot(name, slot), loggers, _stopping);
            if (before.Count > 0) listeners.Add($"listener on {name} {(before.Keys.Any(p => p.Source == name) ? "restarted" : "started")}");
        }

        // Nothing to seed, no store read: the relay stopping its pairs because the store is unreachable gets here too.
        var seeded = starting.Select(s => s.Pair).Where(p => !before.ContainsKey(p)).ToList();
        if (seeded.Count > 0) await Status.SeedAsync(seeded, ct);
        foreach (var setup in starting)
        {
            var worker = new PairWorker(setup, new Wakeup(), Status, loggers.CreateLogger("ferry.pair"));
            // Changes applied to a database that pairs of another sync read from (makedelta: chains, rings) are theirs
            // to forward at once, since ferry's own writes do not NOTIFY. Looked up when rows land, so pairs started
            // or stopped by a later reload are counted. Within one sync every source reaches every database directly.
            worker.Applied += () => RingDownstream(setup.Pair);
            _sources[setup.Pair.Source].Listener.Add(worker.Wakeup);
            next[setup.Pair] = RunningPair.Start(worker, RelayPlan.Definition(setup), Interlocked.Increment(ref _started), _stopping);
        }
        _running = next;
        Status.KeepDatabases(next.Keys.SelectMany(p => new[] { p.Source, p.Target }).ToHashSet());
        var restarted = starting.Select(s => s.Pair).Where(before.ContainsKey).ToList();
        return ReloadReport.Of(before.Keys.ToList(), next.Keys.ToList(), restarted, listeners);
    }

    private void RingDownstream(Pair applied)
    {
        foreach (var (d, running) in _running)
            if (d.Source == applied.Target && d.Sync != applied.Sync) running.Worker.Wakeup.Ring();
    }

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Configuration {Report}")]
    private partial void LogReloaded(string report);
}
