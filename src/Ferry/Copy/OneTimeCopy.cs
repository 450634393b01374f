using Ferry.Apply;
using Ferry.Capture;
using Ferry.Install;
using Ferry.Postgres;
using Ferry.Progress;
using Ferry.Read;
using Npgsql;

namespace Ferry.Copy;

/// <summary>
/// Bucardo's onetimecopy, resumable: fills a target's tables from a source, and hands the pair a position from which
/// replication goes on, so that nothing is missed and nothing older is written over newer.
/// <para>
/// The copy reads all its tables in one REPEATABLE READ snapshot per attempt, parents first, and commits them on the
/// target in slices of keys (<see cref="CopySlices"/>), each with its cursor (<see cref="CopyCursor"/>): a link that
/// resets, or a relay host that dies, costs at most one slice. Run again, the copy resumes where the last slice
/// committed, in a snapshot of its own. The position it hands the pair is the snapshot the first attempt began
/// with: every change committed after it, during the copy or between attempts, has a row version that snapshot
/// cannot see, which the pair reads and applies. A row copied before it changed is written again; one copied after
/// is written the same. Nothing is lost, and what is sent twice changes nothing.
/// </para>
/// <para>
/// The source's change logs are folded first, so the row versions copied along are current. Where the target keeps
/// row versions (a database fed by several sources, or read by a pair), the source's become the target's, with
/// their origins; the target's entries the source lacks go. The other sources' pairs, which start from the
/// beginning, then decide each of their changes against the version copied, as they would have against the one
/// replicated. A re-copy (<c>ferry copy</c>) sends those pairs back to the beginning too (<c>restartFrom</c>): a
/// change another source had delivered to the target before the copy replaced it must be delivered again.
/// </para>
/// <para>
/// Not atomic: the target's tables are emptied (onetimecopy=1) before they fill, and a copy cut off leaves them part
/// filled until it is run again. A resumed attempt reads a later snapshot than the tables finished before it, so a
/// child row may name a parent those tables do not hold yet: such rows are left for the pair, which carries them
/// with their parents (both changed after the position), instead of failing on the foreign key.
/// </para>
/// </summary>
public static class OneTimeCopy
{
    /// <param name="replace">true: the target's rows are deleted first (onetimecopy=1); false: only empty tables are
    /// filled, the others kept as they are (onetimecopy=2)</param>
    /// <param name="restartFrom">the sync's other sources: their pairs into the target start again from the
    /// beginning, with the copy's last slice</param>
    /// <param name="progress">told how each table's copy goes (<see cref="CopyMeter"/>)</param>
    /// <returns>one line per table: what was copied or kept</returns>
    public static async Task<List<string>> CopyAsync(Database source, Database target, string sync, IReadOnlyList<TableName> tables,
        bool targetKeepsVersions, bool replace, IReadOnlyCollection<string> restartFrom, CancellationToken ct,
        IProgress<TableProgress>? progress = null)
    {
        var report = new List<string>();
        await using var src = await Connect.OpenAsync(source, ct, "ferry copy");
        await using var tgt = await Connect.OpenAsync(target, ct, "ferry copy");
        // Each end's transaction waits while the other works (a large slice's row versions, say): not a stuck
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
        var shapes = new Dictionary<TableName, TableShape>();
        foreach (var t in ordered)
            shapes[t] = await TableCatalog.ReadAsync(src, t, ct)
                        ?? throw new FerryException($"Table {t} does not exist in database {source.Name} (or ferry cannot see it).");

        var cursor = await CopyCursor.LoadAsync(tgt, sync, source.Name, ct);
        var resumed = cursor is not null && cursor.NodeId == nodeId && cursor.Fill.All(ordered.Contains);
        if (resumed && await ChangedSinceAsync(tgt, cursor!, ct) is { } changed)
        {
            // What the cursor says is there is not: resuming would leave those rows missing for good.
            if (!replace)
                throw new FerryException($"{target.Name} changed since its copy from {source.Name} was interrupted ({changed}). Empty " +
                                         "the tables the copy filled and run it again, or copy with replace (onetimecopy=1, mode=replace).");
            report.Add($"{target.Name} changed since its copy from {source.Name} was interrupted ({changed}): the copy starts over.");
            resumed = false;
        }
        if (resumed)
            report.Add($"{target.Name}: resuming the copy from {source.Name} at {cursor!.Fill.ElementAtOrDefault(cursor.Table)?.ToString() ?? "its end"}.");
        else
            cursor = await BeginAsync(tgt, sync, source, target.Name, ordered, snapshot, nodeId, replace, report, ct);

        while (cursor!.Table < cursor.Fill.Count)
        {
            var table = cursor.Fill[cursor.Table];
            var slices = new CopySlices(shapes[table]);
            // A resumed attempt may meet children of parents it has not copied yet (see above).
            var parents = resumed ? await ParentsInHerdAsync(tgt, table, ordered, ct) : [];
            var sliceRows = await SlicedAsync(src, tgt, table, ct) ? Defaults.CopySliceRows : (int?)null;
            var meter = progress is null ? null : new CopyMeter($"copy {source.Name} -> {target.Name}", table, cursor.Table + 1,
                cursor.Fill.Count, cursor.Copied[cursor.Table], await CopyMeter.EstimateAsync(src, table, ct), progress);
            long waiting = 0;
            while (true)
            {
                var (copied, held, upto) = await CopySliceAsync(src, tgt, source.Name, slices, shapes[table], parents,
                    targetKeepsVersions, cursor.After, sliceRows, meter, ct);
                meter?.SliceDone(copied + held);
                waiting += held;
                var last = upto is null;
                cursor.Copied[cursor.Table] += copied;
                cursor = cursor with { Table = last ? cursor.Table + 1 : cursor.Table, After = upto };
                await cursor.SaveAsync(tgt, sync, source.Name, ct);
                await ExecAsync(tgt, "COMMIT", ct);
                if (last) break;
            }
            meter?.Done(cursor.Copied[cursor.Table - 1]);
            if (waiting > 0)
                report.Add($"{target.Name}: {waiting} rows of {table} name parents copied before they were written: the pair brings them.");
        }
        report.AddRange(cursor.Fill.Select((t, i) => $"{target.Name}: {t} copied from {source.Name}, {cursor.Copied[i]} rows."));

        await using (var write = await tgt.BeginTransactionAsync(ct))
        {
            // After the pairs' applies in flight (the relay may run): they find the new positions, and read them again.
            await ExecAsync(tgt, Applier.LockSql, ct);
            var save = new NpgsqlCommand(PairProgress.SaveSql("NULL::text[]"), tgt);
            await using (save)
            {
                foreach (var v in new object?[] { sync, source.Name, cursor.Position, null, null, nodeId, cursor.Copied.Sum() })
                    save.Parameters.Add(new NpgsqlParameter { Value = v ?? DBNull.Value, NpgsqlDbType = v is long ? NpgsqlTypes.NpgsqlDbType.Bigint : NpgsqlTypes.NpgsqlDbType.Text });
                await save.ExecuteNonQueryAsync(ct);
            }
            if (restartFrom.Count > 0)
                await ExecAsync(tgt, "DELETE FROM ferry.progress WHERE sync_name = $1 AND source_name = ANY($2)", ct, sync, restartFrom.ToArray());
            await CopyCursor.ClearAsync(tgt, sync, source.Name, ct);
            await write.CommitAsync(ct);
        }
        await read.CommitAsync(ct);
        return report;
    }

    /// <summary>
    /// The first attempt: empties the tables to fill (children first) or finds the empty ones, and records the cursor,
    /// whose position is this attempt's snapshot, in one target transaction.
    /// </summary>
    private static async Task<CopyCursor> BeginAsync(NpgsqlConnection tgt, string sync, Database source, string targetName,
        IReadOnlyList<TableName> ordered, string snapshot, string nodeId, bool replace, List<string> report, CancellationToken ct)
    {
        await using var write = await tgt.BeginTransactionAsync(ct);
        // The relay may be running: an apply of this sync in flight finishes before the tables are emptied, and every
        // later one finds the cursor and waits (PairProgress.GuardSql).
        await ExecAsync(tgt, Applier.LockSql, ct);
        await ExecAsync(tgt, "SELECT set_config('ferry.origin', $1, true), " + Capture.Wal.WalMarker.Emit, ct, source.Name);
        await ExecAsync(tgt, "SET CONSTRAINTS ALL DEFERRED", ct);
        var fill = new List<TableName>();
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
                report.Add($"{targetName}: {t} kept as it is (it has rows; onetimecopy=2 fills empty tables only).");
            }
        }
        var cursor = new CopyCursor(snapshot, nodeId, fill, 0, null, new long[fill.Count]);
        await cursor.SaveAsync(tgt, sync, source.Name, ct);
        await write.CommitAsync(ct);
        return cursor;
    }

    /// <summary>
    /// One slice, in a target transaction left open for the caller to record the cursor in and commit: the rows after
    /// <paramref name="after"/> up to the key that ends <paramref name="sliceRows"/> of them (all that are left when
    /// fewer, or when null), and their row versions where the target keeps them.
    /// </summary>
    /// <returns>rows written, rows held back for their parents, and the slice's last key (null: the table is done)</returns>
    private static async Task<(long Copied, long Held, string[]? Upto)> CopySliceAsync(NpgsqlConnection src, NpgsqlConnection tgt,
        string sourceName, CopySlices slices, TableShape shape, IReadOnlyList<ForeignKey> parents, bool versions,
        string[]? after, int? sliceRows, CopyMeter? meter, CancellationToken ct)
    {
        string[]? upto = null;
        await ExecAsync(src, CopySlices.SetBounds, ct, (object?)after ?? DBNull.Value, DBNull.Value);
        if (sliceRows is { } n)
        {
            await using var bound = new NpgsqlCommand(slices.UpperBound(after is not null), src) { CommandTimeout = 0 };
            bound.Parameters.AddWithValue(n);
            upto = await bound.ExecuteScalarAsync(ct) as string[];
        }
        await ExecAsync(src, CopySlices.SetBounds, ct, (object?)after ?? DBNull.Value, (object?)upto ?? DBNull.Value);
        await ExecAsync(tgt, "BEGIN", ct);
        await ExecAsync(tgt, "SELECT set_config('ferry.origin', $1, true), " + Capture.Wal.WalMarker.Emit, ct, sourceName);
        await ExecAsync(tgt, "SET CONSTRAINTS ALL DEFERRED", ct);
        await ExecAsync(tgt, CopySlices.SetBounds, ct, (object?)after ?? DBNull.Value, (object?)upto ?? DBNull.Value);
        var copyOut = slices.CopyOut(after is not null, upto is not null);
        long copied, held = 0;
        if (parents.Count == 0)
        {
            copied = await PumpAsync(src, tgt, copyOut, $"COPY {Quote.Qualified(shape.Name)} ({slices.Columns}) FROM STDIN {slices.Format}", ct, meter);
        }
        else
        {
            var temp = Quote.Qualified("pg_temp", "ferry_copy_rows");
            await ExecAsync(tgt, $"CREATE TEMP TABLE {temp} ON COMMIT DROP AS SELECT {slices.Columns} FROM {Quote.Qualified(shape.Name)} WITH NO DATA", ct);
            var all = await PumpAsync(src, tgt, copyOut, $"COPY {temp} FROM STDIN {slices.Format}", ct, meter);
            var present = string.Join(" AND ", parents.Select(fk =>
                $"({string.Join(" OR ", fk.ChildColumns.Select(c => $"i.{Quote.Ident(c)} IS NULL"))} OR EXISTS (SELECT 1 FROM {Quote.Qualified(fk.Parent)} AS p " +
                $"WHERE {string.Join(" AND ", fk.ChildColumns.Zip(fk.ParentColumns, (c, p) => $"p.{Quote.Ident(p)} = i.{Quote.Ident(c)}"))}))"));
            await using var insert = new NpgsqlCommand(
                $"INSERT INTO {Quote.Qualified(shape.Name)} ({slices.Columns}) {(shape.HasIdentityAlways ? "OVERRIDING SYSTEM VALUE " : "")}" +
                $"SELECT {slices.Columns} FROM {temp} AS i WHERE {present}", tgt) { CommandTimeout = 0 };
            copied = await insert.ExecuteNonQueryAsync(ct);
            held = all - copied;
        }
        if (versions) await CopyVersionsAsync(src, tgt, sourceName, slices, shape, after is not null, upto is not null, ct);
        return (copied, held, upto);
    }

    /// <summary>
    /// The source's row versions of the slice, with their origins, become the target's: what its decisions start from.
    /// Entries the source has not (a change another source delivered here, not there yet) go: that source's pair,
    /// started again, delivers it anew, where an entry kept would make it look delivered.
    /// </summary>
    private static async Task CopyVersionsAsync(NpgsqlConnection src, NpgsqlConnection tgt, string sourceName, CopySlices slices,
        TableShape shape, bool after, bool upto, CancellationToken ct)
    {
        var keys = Quote.List(shape.Key);
        var temp = Quote.Qualified("pg_temp", "ferry_copy_versions");
        await ExecAsync(tgt, $"CREATE TEMP TABLE {temp} ({string.Join(", ", shape.KeyColumns.Select(k => Quote.Ident(k.Name) + " " + k.VersionType))}, " +
                             "ferry_version timestamptz, ferry_origin text, ferry_based_on timestamptz) ON COMMIT DROP", ct);
        await PumpAsync(src, tgt, slices.CopyVersionsOut(after, upto, sourceName), $"COPY {temp} FROM STDIN (FORMAT text)", ct);
        await ExecAsync(tgt, slices.DropVersions(after, upto, temp), ct);
        await ExecAsync(tgt, $"""
            INSERT INTO {slices.RowVersions} AS r ({keys}, ferry_version, ferry_origin, ferry_based_on, ferry_xid)
            SELECT {keys}, ferry_version, ferry_origin, ferry_based_on, pg_current_xact_id() FROM {temp}
            ON CONFLICT ({keys}) DO UPDATE SET ferry_version = excluded.ferry_version, ferry_origin = excluded.ferry_origin,
                ferry_based_on = excluded.ferry_based_on, ferry_xid = excluded.ferry_xid
            """, ct);
    }

    /// <summary>
    /// Whether the target still holds what the interrupted copy wrote: as many rows in each table it filled as it
    /// counted (nothing of ferry's writes there while a copy is unfinished: the sync is not added yet, or its pairs
    /// into the target wait for the copy, PairProgress.GuardSql).
    /// Null when it does; otherwise the first table that differs.
    /// </summary>
    private static async Task<string?> ChangedSinceAsync(NpgsqlConnection tgt, CopyCursor cursor, CancellationToken ct)
    {
        for (var i = 0; i <= cursor.Table && i < cursor.Fill.Count; i++)
        {
            var rows = await ScalarAsync<long>(tgt, $"SELECT count(*) FROM {Quote.Qualified(cursor.Fill[i])}", ct);
            if (rows != cursor.Copied[i]) return $"{cursor.Fill[i]} holds {rows} rows, the copy wrote {cursor.Copied[i]}";
        }
        return null;
    }

    /// <summary>The table's foreign keys to other tables being copied, as the target has them.</summary>
    private static async Task<IReadOnlyList<ForeignKey>> ParentsInHerdAsync(NpgsqlConnection tgt, TableName table,
        IReadOnlyList<TableName> herd, CancellationToken ct) =>
        (await TableCatalog.ForeignKeysFromAsync(tgt, table, ct)).Where(fk => herd.Contains(fk.Parent)).ToList();

    /// <summary>
    /// Whether to copy the table in slices. Not when its rows reference each other (a slice could name a row of a later
    /// one), and not when the source's statistics put it well under a slice: finding a slice's end walks its keys.
    /// </summary>
    private static async Task<bool> SlicedAsync(NpgsqlConnection src, NpgsqlConnection tgt, TableName table, CancellationToken ct)
    {
        var regclass = $"{Quote.Literal(Quote.Qualified(table))}::regclass";
        if (await ScalarAsync<bool>(tgt, $"SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE contype = 'f' AND conrelid = {regclass} AND confrelid = conrelid)", ct))
            return false;
        var estimate = await ScalarAsync<float>(src, $"SELECT reltuples FROM pg_class WHERE oid = {regclass}", ct);
        return estimate < 0 || estimate >= Defaults.CopySliceRows / 2.0;
    }

    /// <summary>Streams one COPY into the other (Read/CopyPump); returns the rows that went.</summary>
    private static async Task<long> PumpAsync(NpgsqlConnection src, NpgsqlConnection tgt, string copyOut, string copyIn, CancellationToken ct,
        CopyMeter? meter = null)
    {
        if (copyOut.EndsWith("(FORMAT binary)", StringComparison.Ordinal))
        {
            var tuples = new CopyTupleCounter();
            await using var output = await src.BeginRawBinaryCopyAsync(copyOut, ct);
            await using var input = await tgt.BeginRawBinaryCopyAsync(copyIn, ct);
            await CopyPump.BinaryAsync(output, input, tuples, ct, meter is null ? null : meter.Moved);
            return tuples.Rows;
        }
        using var reader = await src.BeginTextExportAsync(copyOut, ct);
        await using var writer = await tgt.BeginTextImportAsync(copyIn, ct);
        return (await CopyPump.TextAsync(reader, writer, ct, meter is null ? null : meter.Moved)).Rows;
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
