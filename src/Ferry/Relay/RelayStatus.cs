using System.Collections.Concurrent;
using Ferry.ControlStore;
using Ferry.Progress;
using Prometheus;

namespace Ferry.Relay;

/// <summary>
/// The relay's view of its databases and pairs: kept in memory for the HTTP endpoint and metrics, and written to
/// the control store so `ferry status` can show it whether or not the relay still runs.
/// </summary>
public sealed partial class RelayStatus(Store store)
{
    private static readonly Counter RowsApplied = Metrics.CreateCounter("ferry_rows_applied_total",
        "Rows applied to targets.", "sync", "source", "target");
    private static readonly Counter Chunks = Metrics.CreateCounter("ferry_chunks_applied_total",
        "Chunks committed on targets.", "sync", "source", "target");
    private static readonly Counter Failures = Metrics.CreateCounter("ferry_pair_failures_total",
        "Failed attempts of a pair.", "sync", "source", "target");
    private static readonly Gauge LagRows = Metrics.CreateGauge("ferry_pair_lag_rows",
        "Changes committed on the source and not yet applied on the target, as last measured.", "sync", "source", "target");
    private static readonly Gauge LagSeconds = Metrics.CreateGauge("ferry_pair_lag_seconds",
        "Age of the oldest change not yet applied, as last measured.", "sync", "source", "target");
    private static readonly Gauge LagStale = Metrics.CreateGauge("ferry_pair_lag_stale",
        "1 while the pair's lag figures are the last known ones (its source does not answer, or not measured since the relay started).",
        "sync", "source", "target");
    private static readonly Counter Conflicts = Metrics.CreateCounter("ferry_pair_conflicts_total",
        "Conflicts recorded on the target by the pair's applies.", "sync", "source", "target");
    private static readonly Gauge Up = Metrics.CreateGauge("ferry_database_up",
        "1 when the relay last reached the database.", "database");
    private static readonly Gauge RoundTrips = Metrics.CreateGauge("ferry_round_trips_per_chunk",
        "Round trips (waits for an answer, source and target links together) per chunk in the pair's last drain.",
        "sync", "source", "target");

    private static readonly Gauge TablesHeldGauge = Metrics.CreateGauge("ferry_pair_tables_held",
        "Tables held on the pair (their changes wait) because they cannot be applied on its target now.", "sync", "source", "target");

    /// <summary>The state of a pair whose rows flow but one of whose sequences cannot be carried forward.</summary>
    public const string SequencesFailing = "sequences failing";

    /// <summary>The state of a pair whose other tables flow while one or more of its tables are held.</summary>
    public const string TablesHeld = "tables held";

    /// <summary>Whether a pair in this state moves rows (its problems, if any, are a table's or a sequence's).</summary>
    public static bool IsFlowing(string state) => state is "replicating" or SequencesFailing or TablesHeld;

    private readonly ConcurrentDictionary<Pair, IReadOnlyList<TableHold>> _holds = new();

    /// <summary>The tables each pair holds now.</summary>
    public IReadOnlyDictionary<Pair, IReadOnlyList<TableHold>> Holds => _holds;

    private string StateOf(Pair pair) =>
        _sequenceProblems.ContainsKey(pair) ? SequencesFailing
        : _holds.TryGetValue(pair, out var holds) && holds.Count > 0 ? TablesHeld
        : "replicating";

    /// <summary>
    /// The tables a pair holds now (<see cref="TableHold"/>). A sync with a held table is never shown good: the pair's
    /// state is <see cref="TablesHeld"/> while its other tables flow. Written to the store when the set or a cause
    /// changes, and on a pair's first report (so a restarted relay replaces what an earlier one left).
    /// </summary>
    public async Task HoldsAsync(Pair pair, IReadOnlyList<TableHold> holds, CancellationToken ct)
    {
        static string Key(TableHold h) => $"{h.Table}\n{h.Kind}\n{h.Cause}\n{h.Since:O}";
        if (_holds.TryGetValue(pair, out var before) && before.Select(Key).SequenceEqual(holds.Select(Key))) return;
        _holds[pair] = holds;
        TablesHeldGauge.WithLabels(pair.Sync, pair.Source, pair.Target).Set(holds.Count);
        var live = _pairs.AddOrUpdate(pair,
            _ => new PairLive(StateOf(pair), 0, 0, 0, 0, null, null, null),
            (_, old) => old with { State = IsFlowing(old.State) ? StateOf(pair) : old.State });
        // The pair's state first: status that lists a held table must never show its sync good.
        if (IsFlowing(live.State))
            await store.RecordPairAsync(pair, live.State, null, null, live.Rows, live.Batches, true,
                _sequenceProblems.GetValueOrDefault(pair), ct);
        await store.RecordHoldsAsync(pair, holds.Select(h => new HeldTableStatus(pair.Sync, pair.Source, pair.Target, h.Table,
            h.Cause, h.Fix, h.Since.ToString("O", System.Globalization.CultureInfo.InvariantCulture))).ToList(), ct);
    }

    private readonly ConcurrentDictionary<Pair, PairLive> _pairs = new();
    private readonly ConcurrentDictionary<Pair, PairLag> _lag = new();
    private readonly ConcurrentDictionary<Pair, DrainCount> _counted = new();
    private readonly ConcurrentDictionary<Pair, (DateTimeOffset At, long? Rows, bool Stale)> _lagWritten = new();

    /// <summary>Each pair's lag as last measured (stale: the last known figure).</summary>
    public IReadOnlyDictionary<Pair, PairLag> Lag => _lag;

    public PairLag LagOf(Pair pair) => _lag.GetValueOrDefault(pair) ?? PairLag.Unknown;

    /// <summary>What the chunk reports of a drain already counted, so that its end adds only the rest.</summary>
    private sealed class DrainCount
    {
        public long Rows;
        public int Chunks;
    }

    /// <summary>
    /// Makes every pair's series exist from the start (counters at 0; lag, stale and held tables at their last known
    /// values from the store, marked stale until measured), so a dashboard never mistakes a missing series for zero lag.
    /// </summary>
    public async Task SeedAsync(IReadOnlyList<Pair> pairs, CancellationToken ct)
    {
        var known = await store.ListLagAsync(ct);
        var held = await store.ListHeldTablesAsync(ct);
        var now = DateTimeOffset.UtcNow;
        foreach (var pair in pairs)
        {
            var labels = new[] { pair.Sync, pair.Source, pair.Target };
            RowsApplied.WithLabels(labels).Publish();
            Chunks.WithLabels(labels).Publish();
            Failures.WithLabels(labels).Publish();
            Conflicts.WithLabels(labels).Publish();
            var lag = known.TryGetValue(pair, out var k) ? k with { StaleSince = k.StaleSince ?? k.MeasuredAt ?? now } : PairLag.Unknown;
            _lag[pair] = lag;
            SetLagGauges(labels, lag);
            TablesHeldGauge.WithLabels(labels).Set(held.Count(h => h.Sync == pair.Sync && h.Source == pair.Source && h.Target == pair.Target));
        }
    }

    private static void SetLagGauges(string[] labels, PairLag lag)
    {
        LagRows.WithLabels(labels).Set(lag.Rows ?? 0);
        LagSeconds.WithLabels(labels).Set(lag.Seconds ?? 0);
        LagStale.WithLabels(labels).Set(lag.Stale ? 1 : 0);
    }

    /// <summary>
    /// A new lag figure for the pair: in memory and the metrics at once; in the store at once when it is forced or
    /// reaches or leaves zero or staleness (what `ferry status` must never get wrong), else at most once a second while it changes
    /// and once a minute while it does not (an idle pair polls every second; the disk need not hear of it).
    /// </summary>
    public async Task LagAsync(Pair pair, PairLag lag, bool force, CancellationToken ct)
    {
        lag = lag with { Position = lag.Position ?? LagOf(pair).Position };
        _lag[pair] = lag;
        SetLagGauges([pair.Sync, pair.Source, pair.Target], lag);
        _pairs.AddOrUpdate(pair, _ => new PairLive(StateOf(pair), 0, 0, lag.Rows ?? 0, lag.Seconds ?? 0, null, null, null),
            (_, old) => old with { LagRows = lag.Rows ?? old.LagRows, LagSeconds = lag.Seconds ?? old.LagSeconds });
        var now = DateTimeOffset.UtcNow;
        if (!force && _lagWritten.TryGetValue(pair, out var w) && (w.Rows == 0) == (lag.Rows == 0) && w.Stale == lag.Stale
            && now - w.At < (w.Rows == lag.Rows ? TimeSpan.FromMinutes(1) : TimeSpan.FromSeconds(1))) return;
        _lagWritten[pair] = (now, lag.Rows, lag.Stale);
        await store.RecordLagAsync(pair, lag, ct);
    }

    /// <summary>
    /// A chunk committed on the target: its rows count at once (a long drain shows its progress), and the lag is
    /// what the batch had left.
    /// </summary>
    public async Task ChunkAsync(Pair pair, long rows, long left, double? oldestSeconds, long conflicts, CancellationToken ct)
    {
        // The lag first: a scrape between the two must not see rows applied beside a lag not yet measured (0 on a new
        // pair), which reads as "caught up" in the middle of a drain.
        await LagAsync(pair, new PairLag(left, left == 0 ? 0 : oldestSeconds ?? 0, DateTimeOffset.UtcNow, null, null), false, ct);
        var labels = new[] { pair.Sync, pair.Source, pair.Target };
        RowsApplied.WithLabels(labels).Inc(rows);
        Chunks.WithLabels(labels).Inc();
        if (conflicts > 0) Conflicts.WithLabels(labels).Inc(conflicts);
        var counted = _counted.GetOrAdd(pair, _ => new DrainCount());
        lock (counted)
        {
            counted.Rows += rows;
            counted.Chunks++;
        }
        _pairs.AddOrUpdate(pair, _ => new PairLive(StateOf(pair), rows, 0, left, 0, null, null, null),
            (_, old) => old with { Rows = old.Rows + rows });
    }
    private readonly ConcurrentDictionary<string, DatabaseLive> _databases = new();
    private readonly ConcurrentDictionary<Pair, string> _sequenceProblems = new();

    public sealed record PairLive(string State, long Rows, long Batches, long LagRows, double LagSeconds,
        DateTimeOffset? LastGood, string? LastError, DateTimeOffset? ErrorSince);

    public sealed record DatabaseLive(bool Reachable, string? LastError, DateTimeOffset Since);

    public IReadOnlyDictionary<Pair, PairLive> Pairs => _pairs;

    public IReadOnlyDictionary<string, DatabaseLive> Databases => _databases;

    // The databases this relay cannot reach, since when: unlike _databases, kept when no running pair uses one any more
    // (KeepDatabases), since several relays hand such a database's syncs away and then only a probe tries it again.
    private readonly ConcurrentDictionary<string, DatabaseLive> _unreached = new();

    /// <summary>The databases whose last connection from this relay failed (link failures), with since when and why.</summary>
    public IReadOnlyDictionary<string, DatabaseLive> Unreached => _unreached;

    public async Task DatabaseAsync(string name, bool reachable, string? error, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        if (reachable) _unreached.TryRemove(name, out _);
        else _unreached.AddOrUpdate(name, new DatabaseLive(false, error, now), (_, old) => old with { LastError = error ?? old.LastError });
        // A database reached again has no error to show; since when it is reachable says how long it has held.
        _databases.AddOrUpdate(name, new DatabaseLive(reachable, error, now),
            (_, old) => old.Reachable == reachable ? old with { LastError = reachable ? null : error ?? old.LastError }
                : new DatabaseLive(reachable, reachable ? null : error ?? old.LastError, now));
        Up.WithLabels(name).Set(reachable ? 1 : 0);
        await store.RecordDatabaseAsync(name, reachable, error, ct);
    }

    /// <param name="position">the target's applied-through snapshot after the drain, kept to count the lag on the
    /// source alone should the target become unreachable</param>
    public async Task PairGoodAsync(Pair pair, DrainResult result, long pendingAfter, string? position, CancellationToken ct)
    {
        // A drain that ended well reached both ends: a database shown down (another pair's link to it failed, or the
        // blame fell on the wrong end) is up again for this relay, which the several-relays heartbeat reports.
        foreach (var name in new[] { pair.Source, pair.Target })
            if (_unreached.ContainsKey(name))
                await DatabaseAsync(name, true, null, ct);
        var labels = new[] { pair.Sync, pair.Source, pair.Target };
        // What the chunks reported already counted: only the rest (held tables' catch-up) is added here.
        var counted = _counted.GetOrAdd(pair, _ => new DrainCount());
        long countedRows;
        int countedChunks;
        lock (counted)
        {
            (countedRows, countedChunks) = (counted.Rows, counted.Chunks);
            (counted.Rows, counted.Chunks) = (0, 0);
        }
        RowsApplied.WithLabels(labels).Inc(Math.Max(0, result.Rows - countedRows));
        Chunks.WithLabels(labels).Inc(Math.Max(0, result.Chunks - countedChunks));
        await LagAsync(pair, new PairLag(pendingAfter, pendingAfter == 0 ? 0 : result.OldestSeconds ?? 0, DateTimeOffset.UtcNow, null,
            position), false, ct);
        if (result.RoundTripsPerChunk is { } trips) RoundTrips.WithLabels(labels).Set(trips);
        var now = DateTimeOffset.UtcNow;
        // Rows moved; a sequence problem, if one stands, still shows until it is fixed.
        var sequenceProblem = _sequenceProblems.GetValueOrDefault(pair);
        var state = StateOf(pair);
        var recovered = _pairs.TryGetValue(pair, out var before) && before.LastError is not null && sequenceProblem is null;
        var live = _pairs.AddOrUpdate(pair,
            _ => new PairLive(state, result.Rows, result.Chunks > 0 ? 1 : 0, pendingAfter, 0, now, sequenceProblem,
                sequenceProblem is null ? null : now),
            (_, old) => old with
            {
                // A recovered pair's error is gone: only a standing sequence problem stays.
                State = state, Rows = old.Rows + Math.Max(0, result.Rows - countedRows), Batches = old.Batches + (result.Chunks > 0 ? 1 : 0),
                LagRows = pendingAfter, LagSeconds = pendingAfter == 0 ? 0 : result.OldestSeconds ?? 0, LastGood = now,
                LastError = sequenceProblem, ErrorSince = sequenceProblem is null ? null : old.ErrorSince ?? now,
            });
        // Under a steady write load a pair drains many times a second: the store hears of it once a second (and
        // at once after a failure), so the relay's bookkeeping does not compete with replication for the disk.
        var run = _runs.AddOrUpdate(pair, _ => new RunTotals(), (_, t) => t);
        lock (run)
        {
            run.Rows += result.Rows;
            run.Chunks += result.Chunks;
            run.Millis += result.Elapsed.TotalMilliseconds;
            if (result.RoundTripsPerChunk is { } rt) run.RoundTrips = rt;
            if (!run.Failed && !recovered && now - run.Written < TimeSpan.FromSeconds(1)) return;
            (run.Written, run.Failed) = (now, false);
        }
        await store.RecordPairAsync(pair, live.State, live.LagRows, live.LagSeconds, live.Rows, live.Batches, true, sequenceProblem, ct);
        long rows;
        int chunks;
        double millis;
        double? perChunk;
        lock (run)
        {
            (rows, chunks, millis, perChunk) = (run.Rows, run.Chunks, run.Millis, run.RoundTrips);
            (run.Rows, run.Chunks, run.Millis) = (0, 0, 0);
        }
        if (rows > 0) await store.RecordRunAsync(pair, rows, chunks, millis, null, ct, perChunk);
    }

    private readonly ConcurrentDictionary<Pair, RunTotals> _runs = new();

    /// <summary>What a pair applied since its status was last written to the store.</summary>
    private sealed class RunTotals
    {
        public long Rows;
        public int Chunks;
        public double Millis;
        public double? RoundTrips;
        public DateTimeOffset Written;
        public bool Failed;
    }

    /// <summary>
    /// What carrying the pair's sequences forward last met (null: all moved or already ahead). Sequences are apart
    /// from rows: a problem leaves the pair replicating, in state <see cref="SequencesFailing"/> with the problem as
    /// its last error, so `ferry status` shows the sync degraded until it is fixed. Written to the store only when
    /// it changes.
    /// </summary>
    public async Task SequencesAsync(Pair pair, string? problem, CancellationToken ct)
    {
        var before = _sequenceProblems.GetValueOrDefault(pair);
        if (problem == before) return;
        if (problem is null) _sequenceProblems.TryRemove(pair, out _);
        else _sequenceProblems[pair] = problem;
        var now = DateTimeOffset.UtcNow;
        if (problem is not null) ErrorSeen(pair, SequencesFailing, problem, now);
        var live = _pairs.AddOrUpdate(pair,
            _ => new PairLive(StateOf(pair), 0, 0, 0, 0, null, problem, problem is null ? null : now),
            (_, old) => old with
            {
                // A pair failing on its rows stays failed: that is the news, and it retries on its own.
                State = IsFlowing(old.State) ? StateOf(pair) : old.State,
                LastError = problem ?? old.LastError,
                ErrorSince = problem is null ? (old.State == SequencesFailing ? null : old.ErrorSince) : old.ErrorSince ?? now,
            });
        if (IsFlowing(live.State))
            await store.RecordPairAsync(pair, live.State, null, null, live.Rows, live.Batches, true, problem, ct);
    }

    public async Task PairFailedAsync(Pair pair, string state, string error, CancellationToken ct)
    {
        var run = _runs.GetOrAdd(pair, _ => new RunTotals());
        lock (run) run.Failed = true;
        // Chunks committed before the failure stay counted; the drain that reported them never ends.
        if (_counted.TryGetValue(pair, out var counted))
            lock (counted) (counted.Rows, counted.Chunks) = (0, 0);
        Failures.WithLabels(pair.Sync, pair.Source, pair.Target).Inc();
        var now = DateTimeOffset.UtcNow;
        ErrorSeen(pair, state, error, now);
        var live = _pairs.AddOrUpdate(pair,
            _ => new PairLive(state, 0, 0, 0, 0, null, error, now),
            (_, old) => old with { State = state, LastError = error, ErrorSince = old.ErrorSince ?? now });
        await store.RecordPairAsync(pair, live.State, null, null, live.Rows, live.Batches, false, error, ct);
    }
}
