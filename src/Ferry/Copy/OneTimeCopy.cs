using Ferry.Apply;
using Ferry.Capture;
using Ferry.Install;
using Ferry.Postgres;
using Ferry.Progress;
using Ferry.Read;
using Npgsql;

namespace Ferry.Copy;

/// <summary>
/// Bucardo's onetimecopy: fills a target's tables from a source in one snapshot, and hands that snapshot to the
/// pair as its position, so replication goes on from exactly there. A change committed before the snapshot is in
/// the copy; one committed after it has a row version the snapshot cannot see, which the pair reads later. The
/// target's rows, its row versions (where it keeps them) and the position commit in one transaction: a copy that
/// fails leaves the target as it was, and running it again starts over.
/// <para>
/// The source's change logs are folded first, so the row versions copied along are current; an entry folded after
/// the snapshot is read and applied again by the pair, which writes the same row: never lost, at most sent twice.
/// Where the target keeps row versions (a database fed by several sources, or read by a pair), the source's are
/// copied with the rows, with their origins: the other sources' pairs, which start from the beginning, then decide
/// each of their changes against the version copied, as they would have against the one replicated. So a re-copy
/// (<c>ferry copy</c>) sends those pairs back to the beginning too (<c>restartFrom</c>): a change another source had
/// delivered to the target before the copy replaced it must be delivered again.
/// </para>
/// </summary>
public static class OneTimeCopy
{
    /// <param name="replace">true: the target's rows are deleted first (onetimecopy=1); false: only empty tables are
    /// filled, the others kept as they are (onetimecopy=2)</param>
    /// <param name="restartFrom">the sync's other sources: their pairs into the target start again from the
    /// beginning, in the copy's transaction</param>
    /// <returns>one line per table: what was copied or kept</returns>
    public static async Task<List<string>> CopyAsync(Database source, Database target, string sync, IReadOnlyList<TableName> tables,
        bool targetKeepsVersions, bool replace, IReadOnlyCollection<string> restartFrom, CancellationToken ct)
    {
        var report = new List<string>();
        await using var src = await Connect.OpenAsync(source, ct, "ferry copy");
        await using var tgt = await Connect.OpenAsync(target, ct, "ferry copy");
        // Each end's transaction waits while the other works (a large table's row versions, say): not a stuck
        // transaction to end, as the relay's sessions treat one.
        foreach (var c in new[] { src, tgt }) await ExecAsync(c, "SET idle_in_transaction_session_timeout = 0", ct);
        await ChangeLog.CatchUpAsync(src, source.Name, sync, tables, ct);
        var ordered = await ForeignKeyOrder.SortAsync(src, tables, ct);

        await using var read = await src.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        string snapshot, nodeId;
        await using (var cmd = new NpgsqlCommand(
            "SELECT pg_current_snapshot()::text, (SELECT value FROM ferry.meta WHERE key = 'node_id')", src, read))
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            await r.ReadAsync(ct);
            snapshot = r.GetString(0);
            nodeId = r.GetString(1);
        }

        await using var write = await tgt.BeginTransactionAsync(ct);
        await ExecAsync(tgt, "SELECT set_config('ferry.origin', $1, true)", ct, source.Name);
        await ExecAsync(tgt, "SET CONSTRAINTS ALL DEFERRED", ct);
        var shapes = new Dictionary<TableName, TableShape>();
        foreach (var t in ordered)
            shapes[t] = await TableCatalog.ReadAsync(src, t, ct)
                        ?? throw new FerryException($"Table {t} does not exist in database {source.Name} (or ferry cannot see it).");
        var fill = new List<TableName>();
        // Children first when deleting, parents first when filling: foreign keys hold throughout.
        foreach (var t in Enumerable.Reverse(ordered))
        {
            if (replace)
            {
                await ExecAsync(tgt, $"DELETE FROM {Quote.Qualified(t)}", ct);
                fill.Insert(0, t);
            }
            else if (await ScalarAsync<bool>(tgt, $"SELECT NOT EXISTS (SELECT 1 FROM {Quote.Qualified(t)})", ct))
            {
                fill.Insert(0, t);
            }
            else
            {
                report.Add($"{target.Name}: {t} kept as it is (it has rows; onetimecopy=2 fills empty tables only).");
            }
        }
        long total = 0;
        foreach (var t in fill)
        {
            var shape = shapes[t];
            var cols = Quote.List(shape.Columns.Select(c => c.Name));
            var format = shape.CanCopyBinary ? "(FORMAT binary)" : "(FORMAT text)";
            var rows = await PumpAsync(src, tgt, $"COPY (SELECT {cols} FROM {Quote.Qualified(t)}) TO STDOUT {format}",
                $"COPY {Quote.Qualified(t)} ({cols}) FROM STDIN {format}", ct);
            if (targetKeepsVersions) await CopyVersionsAsync(src, tgt, source.Name, shape, ct);
            total += rows;
            report.Add($"{target.Name}: {t} copied from {source.Name}, {rows} rows.");
        }
        var save = new NpgsqlCommand(PairProgress.SaveSql("NULL::text[]"), tgt);
        await using (save)
        {
            foreach (var v in new object?[] { sync, source.Name, snapshot, null, null, nodeId, total })
                save.Parameters.Add(new NpgsqlParameter { Value = v ?? DBNull.Value, NpgsqlDbType = v is long ? NpgsqlTypes.NpgsqlDbType.Bigint : NpgsqlTypes.NpgsqlDbType.Text });
            await save.ExecuteNonQueryAsync(ct);
        }
        if (restartFrom.Count > 0)
            await ExecAsync(tgt, "DELETE FROM ferry.progress WHERE sync_name = $1 AND source_name = ANY($2)", ct, sync, restartFrom.ToArray());
        await write.CommitAsync(ct);
        await read.CommitAsync(ct);
        return report;
    }

    /// <summary>
    /// The source's row versions of the table, with their origins, become the target's: what its decisions start from.
    /// Entries the source has not (a change another source delivered here, not there yet) go: that source's pair,
    /// started again, delivers it anew, where an entry kept would make it look delivered.
    /// </summary>
    private static async Task CopyVersionsAsync(NpgsqlConnection src, NpgsqlConnection tgt, string sourceName, TableShape shape, CancellationToken ct)
    {
        var names = new CaptureNames(shape.Name);
        var keys = Quote.List(shape.Key);
        var temp = Quote.Qualified("pg_temp", "ferry_copy_versions");
        await ExecAsync(tgt, $"DROP TABLE IF EXISTS {temp}", ct);
        await ExecAsync(tgt, $"CREATE TEMP TABLE {temp} ({string.Join(", ", shape.KeyColumns.Select(k => Quote.Ident(k.Name) + " " + k.Type))}, " +
                             "ferry_version timestamptz, ferry_origin text, ferry_based_on timestamptz) ON COMMIT DROP", ct);
        var origin = Quote.Literal(sourceName);
        await PumpAsync(src, tgt,
            $"COPY (SELECT {keys}, ferry_version, coalesce(ferry_origin, {origin}), ferry_based_on FROM {names.RowVersions}) TO STDOUT (FORMAT text)",
            $"COPY {temp} FROM STDIN (FORMAT text)", ct);
        var match = string.Join(" AND ", shape.Key.Select(k => $"c.{Quote.Ident(k)} = r.{Quote.Ident(k)}"));
        await ExecAsync(tgt, $"DELETE FROM {names.RowVersions} AS r WHERE NOT EXISTS (SELECT 1 FROM {temp} AS c WHERE {match})", ct);
        await ExecAsync(tgt, $"""
            INSERT INTO {names.RowVersions} AS r ({keys}, ferry_version, ferry_origin, ferry_based_on, ferry_xid)
            SELECT {keys}, ferry_version, ferry_origin, ferry_based_on, pg_current_xact_id() FROM {temp}
            ON CONFLICT ({keys}) DO UPDATE SET ferry_version = excluded.ferry_version, ferry_origin = excluded.ferry_origin,
                ferry_based_on = excluded.ferry_based_on, ferry_xid = excluded.ferry_xid
            """, ct);
    }

    /// <summary>Streams one COPY into the other (Read/CopyPump); returns the rows that went.</summary>
    private static async Task<long> PumpAsync(NpgsqlConnection src, NpgsqlConnection tgt, string copyOut, string copyIn, CancellationToken ct)
    {
        if (copyOut.EndsWith("(FORMAT binary)", StringComparison.Ordinal))
        {
            var tuples = new CopyTupleCounter();
            await using var output = await src.BeginRawBinaryCopyAsync(copyOut, ct);
            await using var input = await tgt.BeginRawBinaryCopyAsync(copyIn, ct);
            await CopyPump.BinaryAsync(output, input, tuples, ct);
            return tuples.Rows;
        }
        using var reader = await src.BeginTextExportAsync(copyOut, ct);
        await using var writer = await tgt.BeginTextImportAsync(copyIn, ct);
        return (await CopyPump.TextAsync(reader, writer, ct)).Rows;
    }

    // Deleting or copying a large table takes as long as it takes: no command timeout. A dead link still breaks the
    // connection (keepalives and tcp_user_timeout, Postgres/Connect), and the target's transaction rolls back.
    private static async Task ExecAsync(NpgsqlConnection c, string sql, CancellationToken ct, params object[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, c) { CommandTimeout = 0 };
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection c, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, c) { CommandTimeout = 0 };
        return (T)(await cmd.ExecuteScalarAsync(ct))!;
    }
}
