using System.Collections.Concurrent;
using Ferry.ControlStore;
using Ferry.Progress;
using Prometheus;

namespace Ferry.Relay;

/// <summary>
/// The relay's view of its databases and pairs: kept in memory for the HTTP endpoint and metrics, and written to
/// the control store so `ferry status` can show it whether or not the relay still runs.
/// </summary>
public sealed class RelayStatus(Store store)
{
    private static readonly Counter RowsApplied = Metrics.CreateCounter("ferry_rows_applied_total",
        "Rows applied to targets.", "sync", "source", "target");
    private static readonly Counter Chunks = Metrics.CreateCounter("ferry_chunks_applied_total",
        "Chunks committed on targets.", "sync", "source", "target");
    private static readonly Counter Failures = Metrics.CreateCounter("ferry_pair_failures_total",
        "Failed attempts of a pair.", "sync", "source", "target");
    private static readonly Gauge LagRows = Metrics.CreateGauge("ferry_pair_lag_rows",
        "Entries waiting on the source at the pair's last read.", "sync", "source", "target");
    private static readonly Gauge LagSeconds = Metrics.CreateGauge("ferry_pair_lag_seconds",
        "Age of the oldest entry waiting at the pair's last read.", "sync", "source", "target");
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
    private readonly ConcurrentDictionary<string, DatabaseLive> _databases = new();
    private readonly ConcurrentDictionary<Pair, string> _sequenceProblems = new();

    public sealed record PairLive(string State, long Rows, long Batches, long LagRows, double LagSeconds,
        DateTimeOffset? LastGood, string? LastError, DateTimeOffset? ErrorSince);

    public sealed record DatabaseLive(bool Reachable, string? LastError, DateTimeOffset Since);

    public IReadOnlyDictionary<Pair, PairLive> Pairs => _pairs;

    public IReadOnlyDictionary<string, DatabaseLive> Databases => _databases;

    public async Task DatabaseAsync(string name, bool reachable, string? error, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        _databases.AddOrUpdate(name, new DatabaseLive(reachable, error, now),
            (_, old) => old.Reachable == reachable ? old with { LastError = error ?? old.LastError } : new DatabaseLive(reachable, error ?? old.LastError, now));
        Up.WithLabels(name).Set(reachable ? 1 : 0);
        await store.RecordDatabaseAsync(name, reachable, error, ct);
    }

    public async Task PairGoodAsync(Pair pair, DrainResult result, long pendingAfter, CancellationToken ct)
    {
        var labels = new[] { pair.Sync, pair.Source, pair.Target };
        RowsApplied.WithLabels(labels).Inc(result.Rows);
        Chunks.WithLabels(labels).Inc(result.Chunks);
        LagRows.WithLabels(labels).Set(pendingAfter);
        LagSeconds.WithLabels(labels).Set(pendingAfter == 0 ? 0 : result.OldestSeconds ?? 0);
        if (result.RoundTripsPerChunk is { } trips) RoundTrips.WithLabels(labels).Set(trips);
        var now = DateTimeOffset.UtcNow;
        // Rows moved; a sequence problem, if one stands, still shows until it is fixed.
        var sequenceProblem = _sequenceProblems.GetValueOrDefault(pair);
        var state = StateOf(pair);
        var live = _pairs.AddOrUpdate(pair,
            _ => new PairLive(state, result.Rows, result.Chunks > 0 ? 1 : 0, pendingAfter, 0, now, sequenceProblem,
                sequenceProblem is null ? null : now),
            (_, old) => old with
            {
                State = state, Rows = old.Rows + result.Rows, Batches = old.Batches + (result.Chunks > 0 ? 1 : 0),
                LagRows = pendingAfter, LagSeconds = pendingAfter == 0 ? 0 : result.OldestSeconds ?? 0, LastGood = now,
                LastError = sequenceProblem ?? old.LastError, ErrorSince = sequenceProblem is null ? null : old.ErrorSince ?? now,
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
            if (!run.Failed && now - run.Written < TimeSpan.FromSeconds(1)) return;
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
        Failures.WithLabels(pair.Sync, pair.Source, pair.Target).Inc();
        var now = DateTimeOffset.UtcNow;
        var live = _pairs.AddOrUpdate(pair,
            _ => new PairLive(state, 0, 0, 0, 0, null, error, now),
            (_, old) => old with { State = state, LastError = error, ErrorSince = old.ErrorSince ?? now });
        await store.RecordPairAsync(pair, live.State, null, null, live.Rows, live.Batches, false, error, ct);
    }
}
