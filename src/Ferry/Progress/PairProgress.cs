using Npgsql;

namespace Ferry.Progress;

/// <summary>
/// How far a target has applied a source, as stored in the target's <c>ferry.progress</c>. Between batches only
/// <see cref="AppliedThrough"/> is set; inside a batch larger than one chunk, the chunk cursor says where to resume.
/// </summary>
/// <param name="Batches">how many times the row was saved (0: there is none): a pair saves only over the row it read
/// or saved last (<see cref="GuardSql"/>)</param>
public sealed record PairProgress(string? AppliedThrough, string? ChunkTo, int? ChunkTable, string[]? ChunkAfterKey, string? SourceNodeId,
    long Batches)
{
    /// <summary>A snapshot in which every transaction is invisible: a pair with no progress reads every entry.</summary>
    public const string BeginningOfTime = "1:1:";

    public static readonly PairProgress None = new(null, null, null, null, null, 0);

    public bool InsideBatch => ChunkTo is not null;

    public static async Task<PairProgress> LoadAsync(NpgsqlConnection target, Pair pair, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT applied_through::text, chunk_to::text, chunk_table, chunk_after_key, source_node_id, batches
            FROM ferry.progress WHERE sync_name = $1 AND source_name = $2
            """, target);
        cmd.Parameters.AddWithValue(pair.Sync);
        cmd.Parameters.AddWithValue(pair.Source);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return None;
        return new PairProgress(
            r.IsDBNull(0) ? null : r.GetString(0),
            r.IsDBNull(1) ? null : r.GetString(1),
            r.IsDBNull(2) ? null : r.GetInt32(2),
            r.IsDBNull(3) ? null : r.GetFieldValue<string[]>(3),
            r.IsDBNull(4) ? null : r.GetString(4),
            r.GetInt64(5));
    }

    /// <summary>
    /// Runs before a pair saves its progress, in the same transaction, after the apply lock. A copy into the target
    /// (<c>ferry copy</c>, which runs beside the relay) changes the pairs' positions under them: while its cursor is
    /// there, no pair of its sync may write into the part-filled tables; once it is done, the pair into the target
    /// from the copy's source must go on from the copy's position, and those from the other sources from the
    /// beginning. So the pair writes only over the row it read or saved last (compare-and-set on the save count);
    /// otherwise the chunk rolls back as a retry, and the pair reopens and reads its position again. The message names
    /// the target's database, so the relay blames that end (and not the source) for the one retry before the pair,
    /// reopening, is refused with the command that finishes the copy.
    /// $1 sync, $2 source, $3 the save count the pair expects, $4 the sync's copy cursor key prefix.
    /// </summary>
    public const string GuardSql = """
        SELECT ferry.retry(CASE
            WHEN EXISTS (SELECT 1 FROM ferry.meta WHERE starts_with(key, $4))
                THEN format('a copy for sync %s from %s into database %s is unfinished; the pair from %s waits for it',
                            $1, (SELECT substr(m.key, length($4) + 1) FROM ferry.meta AS m WHERE starts_with(m.key, $4) LIMIT 1),
                            current_database(), $2)
            ELSE format('the position of the pair of sync %s from %s changed under the relay (a copy); it is read again', $1, $2)
            END)
        WHERE EXISTS (SELECT 1 FROM ferry.meta WHERE starts_with(key, $4))
           OR coalesce((SELECT batches FROM ferry.progress WHERE sync_name = $1 AND source_name = $2), 0) <> $3::bigint
        """;

    /// <summary>
    /// The statement that records progress; it runs in the apply transaction, so the data and the position
    /// commit together or not at all (DESIGN invariant 3). $1 sync, $2 source, $3 applied_through, $4 chunk_to,
    /// $5 chunk_table, $6 source node id, $7 rows; the chunk's last key comes from <paramref name="afterKeySql"/>.
    /// </summary>
    public static string SaveSql(string afterKeySql) => $"""
        INSERT INTO ferry.progress AS p (sync_name, source_name, applied_through, chunk_to, chunk_table, chunk_after_key,
                                         source_node_id, batches, rows_applied, updated_at)
        VALUES ($1, $2, $3::pg_snapshot, $4::pg_snapshot, $5::int, {afterKeySql}, $6, 1, $7, clock_timestamp())
        ON CONFLICT (sync_name, source_name) DO UPDATE SET
            applied_through = excluded.applied_through, chunk_to = excluded.chunk_to, chunk_table = excluded.chunk_table,
            chunk_after_key = excluded.chunk_after_key, source_node_id = excluded.source_node_id,
            batches = p.batches + 1, rows_applied = p.rows_applied + excluded.rows_applied, updated_at = excluded.updated_at
        """;
}
