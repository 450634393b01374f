namespace Ferry.ControlStore;

public sealed record DatabaseStatus(string Name, bool Reachable, string? LastError, string Since, string CheckedAt);

public sealed record PairStatus(
    string Sync, string Source, string Target, string State, long? LagRows, double? LagSeconds, long RowsMoved,
    long Batches, string? LastBatchAt, string? LastGoodAt, string? LastError, string? ErrorSince, string UpdatedAt);

/// <summary>What the relay last saw: written as it works, read by <c>ferry status</c> even when the relay is down.</summary>
public sealed partial class Store
{
    /// <summary>Records reachability; <c>since</c> changes only when the state does, so it says how long it has held.</summary>
    public Task RecordDatabaseAsync(string name, bool reachable, string? error, CancellationToken ct) =>
        ExecuteAsync("""
            INSERT INTO database_status (name, reachable, last_error, since, checked_at) VALUES ($n, $r, $e, $t, $t)
            ON CONFLICT (name) DO UPDATE SET
                since = CASE WHEN database_status.reachable = excluded.reachable THEN database_status.since ELSE excluded.since END,
                reachable = excluded.reachable,
                last_error = coalesce(excluded.last_error, database_status.last_error),
                checked_at = excluded.checked_at
            """, ct, ("$n", name), ("$r", reachable ? 1 : 0), ("$e", error), ("$t", Now()));

    /// <summary>
    /// Records a pair's state. <paramref name="good"/>: rows moved (last_good_at advances); an <paramref name="error"/>
    /// given with it is a problem that does not stop the rows (a sequence that cannot be moved), and stays the last
    /// error, since when it first appeared, until a good record comes without one, which clears it: a pair that
    /// recovered shows no error.
    /// </summary>
    // $e is cast where it stands alone: PostgreSQL cannot type a NULL parameter in `$e IS NULL` (42P08), which failed
    // every pair after each good batch on a PostgreSQL store.
    public Task RecordPairAsync(Pair pair, string state, long? lagRows, double? lagSeconds, long rowsMoved, long batches,
        bool good, string? error, CancellationToken ct) =>
        ExecuteAsync("""
            INSERT INTO pair_status (sync, source, target, state, lag_rows, lag_seconds, rows_moved, batches,
                                     last_batch_at, last_good_at, last_error, error_since, updated_at)
            VALUES ($s, $src, $tgt, $state, $lr, $ls, $rows, $b, $t, CASE WHEN $good = 1 THEN $t END, $e,
                    CASE WHEN CAST($e AS TEXT) IS NOT NULL THEN $t END, $t)
            ON CONFLICT (sync, source, target) DO UPDATE SET
                state = excluded.state,
                lag_rows = coalesce(excluded.lag_rows, pair_status.lag_rows),
                lag_seconds = coalesce(excluded.lag_seconds, pair_status.lag_seconds),
                rows_moved = excluded.rows_moved,
                batches = excluded.batches,
                last_batch_at = CASE WHEN $b > pair_status.batches THEN excluded.last_batch_at ELSE pair_status.last_batch_at END,
                last_good_at = coalesce(excluded.last_good_at, pair_status.last_good_at),
                last_error = excluded.last_error,
                error_since = CASE WHEN $good = 1 AND CAST($e AS TEXT) IS NULL THEN NULL
                                   WHEN pair_status.error_since IS NOT NULL THEN pair_status.error_since
                                   ELSE excluded.error_since END,
                updated_at = excluded.updated_at
            """, ct, ("$s", pair.Sync), ("$src", pair.Source), ("$tgt", pair.Target), ("$state", state), ("$lr", lagRows),
            ("$ls", lagSeconds), ("$rows", rowsMoved), ("$b", batches), ("$good", good ? 1 : 0), ("$e", error), ("$t", Now()));

    public Task RecordRunAsync(Pair pair, long rows, int chunks, double millis, string? error, CancellationToken ct,
        double? roundTripsPerChunk = null) =>
        ExecuteAsync("""
            INSERT INTO run_history (sync, source, target, finished_at, rows, chunks, millis, error, round_trips_per_chunk)
            VALUES ($s, $src, $tgt, $t, $rows, $c, $m, $e, $rt)
            """, ct, ("$s", pair.Sync), ("$src", pair.Source), ("$tgt", pair.Target), ("$t", Now()), ("$rows", rows),
            ("$c", chunks), ("$m", millis), ("$e", error), ("$rt", roundTripsPerChunk));

    /// <summary>History is for people, not for replication: keep a bounded amount.</summary>
    public Task PruneHistoryAsync(TimeSpan keep, CancellationToken ct) =>
        ExecuteAsync("DELETE FROM run_history WHERE finished_at < $t", ct,
            ("$t", DateTimeOffset.UtcNow.Subtract(keep).ToString("O", System.Globalization.CultureInfo.InvariantCulture)));

    public Task<List<DatabaseStatus>> ListDatabaseStatusAsync(CancellationToken ct) =>
        QueryAsync("SELECT name, reachable, last_error, since, checked_at FROM database_status ORDER BY name",
            r => new DatabaseStatus(r.GetString(0), r.GetInt64(1) != 0, r.IsDBNull(2) ? null : r.GetString(2),
                r.GetString(3), r.GetString(4)), ct);

    public Task<List<PairStatus>> ListPairStatusAsync(CancellationToken ct) =>
        QueryAsync("""
            SELECT sync, source, target, state, lag_rows, lag_seconds, rows_moved, batches, last_batch_at, last_good_at,
                   last_error, error_since, updated_at
            FROM pair_status ORDER BY sync, source, target
            """,
            r => new PairStatus(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3),
                r.IsDBNull(4) ? null : r.GetInt64(4), r.IsDBNull(5) ? null : r.GetDouble(5), r.GetInt64(6), r.GetInt64(7),
                r.IsDBNull(8) ? null : r.GetString(8), r.IsDBNull(9) ? null : r.GetString(9),
                r.IsDBNull(10) ? null : r.GetString(10), r.IsDBNull(11) ? null : r.GetString(11), r.GetString(12)), ct);
}
