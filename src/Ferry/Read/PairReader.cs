using Npgsql;

namespace Ferry.Read;

/// <summary>
/// Reads a pair's batch from its source, one REPEATABLE READ transaction per chunk: the counts, the truncates and
/// the COPY of every slice all see one snapshot, the batch's <c>to</c> snapshot is that very snapshot when the
/// batch starts, and the whole read costs one round trip plus one per table in the chunk.
/// </summary>
public sealed class PairReader(NpgsqlConnection source, string sourceName, string[] skipOrigins, IReadOnlyList<ReadSql> tables)
{
    public IReadOnlyList<ReadSql> Tables => tables;

    /// <summary>
    /// Opens the read transaction. Between batches, <paramref name="bounds"/> has no <c>To</c> and the transaction's
    /// own snapshot becomes it; inside a batch, the stored bounds are read again.
    /// </summary>
    public async Task<BatchPlan> BeginAsync(string from, string? to, int startTable, string[]? afterKey, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(source);
        batch.BatchCommands.Add(new NpgsqlBatchCommand("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
        var setup = new NpgsqlBatchCommand("""
            SELECT set_config('ferry.read_from', $1, true),
                   set_config('ferry.read_to', coalesce($2, pg_current_snapshot()::text), true),
                   set_config('ferry.read_skip', $3::text[]::text, true),
                   set_config('ferry.read_source', $4, true),
                   set_config('ferry.read_after', coalesce($5::text[], '{}')::text, true),
                   (SELECT value FROM ferry.meta WHERE key = 'node_id'),
                   pg_current_snapshot()::text,
                   (SELECT value FROM ferry.meta WHERE key = 'tombstones_purged_below')
            """);
        setup.Parameters.Add(new NpgsqlParameter { Value = from });
        setup.Parameters.Add(new NpgsqlParameter { Value = (object?)to ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        setup.Parameters.Add(new NpgsqlParameter { Value = skipOrigins });
        setup.Parameters.Add(new NpgsqlParameter { Value = sourceName });
        setup.Parameters.Add(new NpgsqlParameter
        {
            Value = (object?)afterKey ?? DBNull.Value,
            NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text,
        });
        batch.BatchCommands.Add(setup);
        for (var t = startTable; t < tables.Count; t++)
            batch.BatchCommands.Add(new NpgsqlBatchCommand(tables[t].Count(t == startTable && afterKey is not null)));
        batch.BatchCommands.Add(new NpgsqlBatchCommand(ReadSql.Truncates));

        var pending = new long[tables.Count];
        double? oldest = null;
        var truncates = new List<TruncateEntry>();
        string batchTo, nodeId, now;
        string? purgedBelow;
        await using (var r = await batch.ExecuteReaderAsync(ct))
        {
            await r.ReadAsync(ct);
            batchTo = r.GetString(1);
            nodeId = r.GetString(5);
            now = r.GetString(6);
            purgedBelow = r.IsDBNull(7) ? null : r.GetString(7);
            for (var t = startTable; t < tables.Count; t++)
            {
                await r.NextResultAsync(ct);
                await r.ReadAsync(ct);
                pending[t] = r.GetInt64(0);
                if (!r.IsDBNull(1)) oldest = Math.Max(oldest ?? 0, r.GetDouble(1));
            }
            await r.NextResultAsync(ct);
            while (await r.ReadAsync(ct))
                truncates.Add(new TruncateEntry(new TableName(r.GetString(0), r.GetString(1)), r.GetDateTime(2), r.GetString(3)));
        }
        CheckContinuity(from, now);
        CheckTombstones(from, purgedBelow);
        return new BatchPlan(new BatchBounds(from, batchTo, startTable, afterKey), nodeId, pending, oldest, truncates);
    }

    /// <summary>Streams one slice straight into the target's COPY, without decoding a row.</summary>
    public async Task<long> CopySliceAsync(ChunkSlice slice, NpgsqlConnection target, string copyIn, CancellationToken ct)
    {
        var sql = tables[slice.Table];
        var copyOut = sql.CopyOut(slice.Limit, slice.AfterKey);
        if (sql.Shape.CanCopyBinary)
        {
            await using var output = await source.BeginRawBinaryCopyAsync(copyOut, ct);
            await using var input = await target.BeginRawBinaryCopyAsync(copyIn, ct);
            var counter = new CountingCopy();
            await counter.CopyAsync(output, input, ct);
            return counter.Bytes;
        }
        using var reader = await source.BeginTextExportAsync(copyOut, ct);
        await using var writer = await target.BeginTextImportAsync(copyIn, ct);
        var buffer = new char[64 * 1024];
        long chars = 0;
        int n;
        while ((n = await reader.ReadAsync(buffer, ct)) > 0)
        {
            await writer.WriteAsync(buffer.AsMemory(0, n), ct);
            chars += n;
        }
        return chars;
    }

    public async Task EndAsync(CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("COMMIT", source);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// A database restored from a backup hands out transaction ids again that the stored snapshot already covers:
    /// reading on would skip its new changes. Stop the pair instead (DESIGN: discontinuities).
    /// </summary>
    private void CheckContinuity(string from, string now)
    {
        if (from == Progress.PairProgress.BeginningOfTime) return;
        var applied = PgSnapshot.Parse(from);
        var current = PgSnapshot.Parse(now);
        if (current.Xmax < applied.Xmax)
            throw new FerryException(
                $"Database {sourceName} went back in time: its transaction ids ({current.Xmax}) are behind what was " +
                $"already applied from it ({applied.Xmax}). It was probably restored from a backup or replaced. " +
                "Ferry stopped this pair rather than skip or repeat changes; re-copy the tables from it, then reset " +
                "the pair's progress (DELETE FROM ferry.progress on the target for this sync and source).");
    }

    /// <summary>
    /// The source purged tombstones this pair had not passed yet (it was away longer than the retention period):
    /// reading on would miss those deletes and leave the target diverged for good. Stop and say so.
    /// </summary>
    private void CheckTombstones(string from, string? purgedBelow)
    {
        if (purgedBelow is null) return;
        if (PgSnapshot.Parse(from).Xmin < ulong.Parse(purgedBelow, System.Globalization.CultureInfo.InvariantCulture))
            throw new FerryException(
                $"This pair has been away from {sourceName} longer than the tombstone retention " +
                $"({Defaults.TombstoneRetention.TotalHours:F0} h): deletes it had not received were purged there. The target " +
                "needs a re-copy of the tables from the source; then reset the pair's progress (DELETE FROM ferry.progress " +
                "on the target for this sync and source).");
    }

    private sealed class CountingCopy
    {
        public long Bytes { get; private set; }

        public async Task CopyAsync(Stream from, Stream to, CancellationToken ct)
        {
            var buffer = new byte[128 * 1024];
            int n;
            while ((n = await from.ReadAsync(buffer, ct)) > 0)
            {
                await to.WriteAsync(buffer.AsMemory(0, n), ct);
                Bytes += n;
            }
        }
    }
}
