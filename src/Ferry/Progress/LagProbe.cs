using Ferry.Capture;
using Ferry.Postgres;
using Npgsql;

namespace Ferry.Progress;

/// <summary>
/// Measures a pair's lag from the databases themselves, not from what a relay last saw: the target's stored position
/// (<c>ferry.progress</c>), then on the source the row versions whose xid that snapshot cannot see (what the next
/// batch reads) and the change-log entries not yet folded (local writes, which every pair from the source will read).
/// So it is right with the relay stopped, and, counted against the last known position, with the target unreachable:
/// only ferry moves the position. Each database gets <see cref="Defaults.LagProbeTimeout"/>; one that does not answer
/// leaves the last known figure, marked stale since then.
/// </summary>
public static class LagProbe
{
    /// <summary>
    /// $1 the position (a pg_snapshot as text), $2 origins the pair does not carry. A key in both the log and the row
    /// versions counts twice: a bound, which is zero exactly when nothing waits. Inside a batch that was cut off
    /// (a chunk cursor on the target) the chunks already applied still count until the batch completes.
    /// </summary>
    public static string CountSql(IReadOnlyList<TableName> tables) =>
        "SELECT coalesce(sum(n), 0)::bigint, greatest(0, coalesce(extract(epoch FROM clock_timestamp() - min(oldest)), 0))::float8 FROM (" +
        string.Join(" UNION ALL ", tables.Select(t => new CaptureNames(t)).SelectMany(n => new[]
        {
            $"""
            SELECT count(*) AS n, min(r.ferry_version) AS oldest FROM {n.RowVersions} AS r
            WHERE r.ferry_xid >= pg_snapshot_xmin($1::pg_snapshot) AND NOT pg_visible_in_snapshot(r.ferry_xid, $1::pg_snapshot)
              AND coalesce(r.ferry_origin, '') <> ALL ($2::text[])
            """,
            $"SELECT count(*), min(l.ferry_captured) FROM {n.Log} AS l",
        })) + ") AS x";

    public static async Task<(long Rows, double Seconds)> CountAsync(NpgsqlConnection source, string position,
        string[] skipOrigins, IReadOnlyList<TableName> tables, CancellationToken ct)
    {
        if (tables.Count == 0) return (0, 0);
        await using var cmd = new NpgsqlCommand(CountSql(tables), source);
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = position });
        cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = skipOrigins });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        return (r.GetInt64(0), r.GetDouble(1));
    }

    /// <summary>The snapshot the target has applied the pair through (the beginning of time before its first batch).</summary>
    public static async Task<string> PositionAsync(NpgsqlConnection target, Pair pair, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT applied_through::text FROM ferry.progress WHERE sync_name = $1 AND source_name = $2", target);
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = pair.Sync });
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = pair.Source });
        return await cmd.ExecuteScalarAsync(ct) as string ?? PairProgress.BeginningOfTime;
    }

    /// <summary>
    /// Measures the pair now. <paramref name="target"/> null: count against <paramref name="known"/>'s position without
    /// asking the target (the caller knows it is unreachable). Never throws for an unreachable database: the answer is
    /// then <paramref name="known"/>, stale.
    /// </summary>
    public static async Task<PairLag> MeasureAsync(Database source, Database? target, Pair pair, string[] skipOrigins,
        IReadOnlyList<TableName> tables, PairLag known, CancellationToken ct)
    {
        var position = known.Position;
        if (target is not null)
        {
            try
            {
                await using var t = await OpenAsync(target, ct);
                position = await PositionAsync(t, pair, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                // The target does not answer: the position it had when last seen still holds, since only ferry moves it.
            }
        }
        if (position is null) return known.MarkStale(DateTimeOffset.UtcNow);
        try
        {
            await using var s = await OpenAsync(source, ct);
            var (rows, seconds) = await CountAsync(s, position, skipOrigins, tables, ct);
            return new PairLag(rows, seconds, DateTimeOffset.UtcNow, null, position);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return (known with { Position = position }).MarkStale(DateTimeOffset.UtcNow);
        }
    }

    private static async Task<NpgsqlConnection> OpenAsync(Database db, CancellationToken ct)
    {
        var b = Connect.Builder(db, "ferry lag");
        var seconds = Math.Max(1, (int)Defaults.LagProbeTimeout.TotalSeconds);
        (b.Timeout, b.CommandTimeout) = (seconds, seconds);
        var c = new NpgsqlConnection(b.ToString());
        try
        {
            await c.OpenAsync(ct);
            return c;
        }
        catch
        {
            await c.DisposeAsync();
            throw;
        }
    }
}
