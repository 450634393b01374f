using Npgsql;

namespace Ferry.Progress;

/// <summary>
/// How far a target has applied a source, as stored in the target's <c>ferry.progress</c>. Between batches only
/// <see cref="AppliedThrough"/> is set; inside a batch larger than one chunk, the chunk cursor says where to resume.
/// </summary>
public sealed record PairProgress(string? AppliedThrough, string? ChunkTo, int? ChunkTable, string[]? ChunkAfterKey, string? SourceNodeId)
{
    /// <summary>A snapshot in which every transaction is invisible: a pair with no progress reads every entry.</summary>
    public const string BeginningOfTime = "1:1:";

    public static readonly PairProgress None = new(null, null, null, null, null);

    public bool InsideBatch => ChunkTo is not null;

    public static async Task<PairProgress> LoadAsync(NpgsqlConnection target, Pair pair, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT applied_through::text, chunk_to::text, chunk_table, chunk_after_key, source_node_id
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
            r.IsDBNull(4) ? null : r.GetString(4));
    }

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
