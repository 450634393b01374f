using Ferry.Apply;
using Ferry.Install;
using Ferry.Postgres;
using Ferry.Read;
using Npgsql;

namespace Ferry.Copy;

public static partial class OneTimeCopy
{
    /// <summary>What the source says in an attempt's snapshot, asked in one batch.</summary>
    private sealed record SourceRead(string Snapshot, string NodeId, Dictionary<TableName, TableShape> Shapes,
        Dictionary<TableName, float> Tuples, Dictionary<TableName, long?> Estimates);

    /// <summary>A slice copied, its target transaction still open: <see cref="Closing"/> ends its work before the commit.</summary>
    private sealed record Slice(long Copied, long Held, string[]? Upto, List<NpgsqlBatchCommand> Closing);

    /// <summary>Both ends at once: on a long link each connection costs several round trips (TLS offer, SCRAM).</summary>
    private static async Task<(NpgsqlConnection Source, NpgsqlConnection Target)> OpenBothAsync(Database source, Database target,
        CancellationToken ct)
    {
        Task<NpgsqlConnection>[] opening =
        [
            Connect.OpenAsync(source, ct, "ferry copy", copySession: true),
            Connect.OpenAsync(target, ct, "ferry copy", copySession: true),
        ];
        try
        {
            await Task.WhenAll(opening);
        }
        catch
        {
            foreach (var o in opening.Where(o => o.IsCompletedSuccessfully)) await o.Result.DisposeAsync();
            throw;
        }
        return (opening[0].Result, opening[1].Result);
    }

    /// <summary>The target's cursor, its foreign keys among the tables (their order) and the tables that reference themselves.</summary>
    private static async Task<(CopyCursor? Cursor, IReadOnlyList<TableName> Ordered, HashSet<TableName> SelfReferencing)> ReadTargetAsync(
        NpgsqlConnection tgt, string sync, string sourceName, IReadOnlyList<TableName> tables, CancellationToken ct)
    {
        var names = tables.Select(Quote.Qualified).ToArray();
        await using var batch = Batch(tgt, [
            CopyCursor.Load(sync, sourceName),
            Command(TableCatalog.ForeignKeysSql, [names]),
            Command("SELECT x FROM unnest($1::text[]) AS x WHERE EXISTS (SELECT 1 FROM pg_constraint " +
                    "WHERE contype = 'f' AND conrelid = to_regclass(x) AND confrelid = conrelid)", [names]),
        ]);
        await using var r = await batch.ExecuteReaderAsync(ct);
        var cursor = await r.ReadAsync(ct) ? CopyCursor.Parse(r.GetString(0)) : null;
        await r.NextResultAsync(ct);
        var edges = await TableCatalog.ReadForeignKeysAsync(r, ct);
        await r.NextResultAsync(ct);
        var self = new HashSet<string>(StringComparer.Ordinal);
        while (await r.ReadAsync(ct)) self.Add(r.GetString(0));
        return (cursor, ForeignKeyOrder.Sort(tables, edges.Select(e => (e.Child, e.Parent))),
            tables.Where(t => self.Contains(Quote.Qualified(t))).ToHashSet());
    }

    /// <summary>
    /// Begins the attempt's REPEATABLE READ transaction on the source, left open for the slices, and reads in it the
    /// snapshot (the position a first attempt hands the pair), the node id, every table's shape and statistics, and
    /// (<paramref name="estimates"/>) what each holds for the progress shown.
    /// </summary>
    private static async Task<SourceRead> ReadSourceAsync(NpgsqlConnection src, IReadOnlyList<TableName> tables, bool estimates,
        CancellationToken ct)
    {
        var names = tables.Select(Quote.Qualified).ToArray();
        List<NpgsqlBatchCommand> commands =
        [
            new("BEGIN ISOLATION LEVEL REPEATABLE READ"),
            new("SELECT pg_current_snapshot()::text, (SELECT value FROM ferry.meta WHERE key = 'node_id')"),
            Command(TableCatalog.ColumnsSql, [names]),
            Command("SELECT (SELECT reltuples FROM pg_class WHERE oid = to_regclass(x)) FROM unnest($1::text[]) WITH ORDINALITY AS u (x, n) ORDER BY n", [names]),
        ];
        if (estimates) commands.AddRange(tables.Select(t => new NpgsqlBatchCommand(CopyMeter.EstimateSql(t))));
        await using var batch = Batch(src, commands);
        await using var r = await batch.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        var (snapshot, nodeId) = (r.GetString(0), r.GetString(1));
        await r.NextResultAsync(ct);
        var shapes = await TableCatalog.ReadColumnsAsync(r, tables, ct);
        await r.NextResultAsync(ct);
        var tuples = new Dictionary<TableName, float>();
        for (var i = 0; await r.ReadAsync(ct); i++) tuples[tables[i]] = r.IsDBNull(0) ? -1 : r.GetFloat(0);
        var counted = new Dictionary<TableName, long?>();
        foreach (var t in estimates ? tables : [])
        {
            await r.NextResultAsync(ct);
            await r.ReadAsync(ct);
            counted[t] = CopyMeter.Estimate(r.GetInt64(0), r.GetDouble(1), r.IsDBNull(2) ? null : r.GetInt64(2));
        }
        return new SourceRead(snapshot, nodeId, shapes, tuples, counted);
    }

    /// <summary>
    /// One slice, in a target transaction left open for the caller to end (<see cref="Slice.Closing"/>, the cursor or
    /// the copy's end) and commit: the rows after <paramref name="after"/> up to the key that ends
    /// <paramref name="sliceRows"/> of them (all that are left when fewer, or when null), and their row versions where
    /// the target keeps them. The source finds the slice's end while the target begins its transaction; both COPY
    /// streams start at once.
    /// </summary>
    /// <param name="open">the target's transaction is open already (a first attempt's, from BeginAsync)</param>
    /// <param name="lockIfLast">the table is the last: if this slice is its last, the transaction that commits it ends
    /// the copy and takes the apply lock first (Finish)</param>
    private static async Task<Slice> CopySliceAsync(NpgsqlConnection src, NpgsqlConnection tgt, string sourceName, CopySlices slices,
        TableShape shape, IReadOnlyList<ForeignKey> parents, bool versions, string[]? after, int? sliceRows, bool open, bool lockIfLast,
        CopyMeter? meter, CancellationToken ct)
    {
        var bounding = BoundAsync(src, slices, after, sliceRows, ct);
        var rowsTemp = Quote.Qualified("pg_temp", "ferry_copy_rows");
        var versionsTemp = Quote.Qualified("pg_temp", "ferry_copy_versions");
        var begin = new List<NpgsqlBatchCommand>();
        if (!open)
        {
            begin.Add(new NpgsqlBatchCommand("BEGIN"));
            // Whether this slice ends the copy is known once the source has found its end.
            if (lockIfLast && await bounding is null) begin.Add(new NpgsqlBatchCommand(Applier.LockSql));
            begin.Add(Command("SELECT set_config('ferry.origin', $1, true), " + Capture.Wal.WalMarker.Emit, sourceName));
            begin.Add(new NpgsqlBatchCommand("SET CONSTRAINTS ALL DEFERRED"));
        }
        if (parents.Count > 0)
            begin.Add(new NpgsqlBatchCommand($"CREATE TEMP TABLE {rowsTemp} ON COMMIT DROP AS SELECT {slices.Columns} FROM {Quote.Qualified(shape.Name)} WITH NO DATA"));
        if (versions)
            begin.Add(new NpgsqlBatchCommand($"CREATE TEMP TABLE {versionsTemp} ({string.Join(", ", shape.KeyColumns.Select(k => Quote.Ident(k.Name) + " " + k.VersionType))}, " +
                                             "ferry_version timestamptz, ferry_origin text, ferry_based_on timestamptz) ON COMMIT DROP"));
        await Task.WhenAll(bounding, begin.Count > 0 ? ExecuteAsync(tgt, begin, ct) : Task.CompletedTask);
        var upto = bounding.Result;

        var copyOut = slices.CopyOut(after is not null, upto is not null);
        long copied, held = 0;
        if (parents.Count == 0)
        {
            copied = await PumpAsync(src, tgt, copyOut, $"COPY {Quote.Qualified(shape.Name)} ({slices.Columns}) FROM STDIN {slices.Format}", ct, meter);
        }
        else
        {
            var all = await PumpAsync(src, tgt, copyOut, $"COPY {rowsTemp} FROM STDIN {slices.Format}", ct, meter);
            var present = string.Join(" AND ", parents.Select(fk =>
                $"({string.Join(" OR ", fk.ChildColumns.Select(c => $"i.{Quote.Ident(c)} IS NULL"))} OR EXISTS (SELECT 1 FROM {Quote.Qualified(fk.Parent)} AS p " +
                $"WHERE {string.Join(" AND ", fk.ChildColumns.Zip(fk.ParentColumns, (c, p) => $"p.{Quote.Ident(p)} = i.{Quote.Ident(c)}"))}))"));
            await using var insert = new NpgsqlCommand(
                $"INSERT INTO {Quote.Qualified(shape.Name)} ({slices.Columns}) {(shape.HasIdentityAlways ? "OVERRIDING SYSTEM VALUE " : "")}" +
                $"SELECT {slices.Columns} FROM {rowsTemp} AS i WHERE {present}", tgt) { CommandTimeout = 0 };
            copied = await insert.ExecuteNonQueryAsync(ct);
            held = all - copied;
        }
        var closing = new List<NpgsqlBatchCommand>();
        if (versions)
        {
            // The source's row versions of the slice, with their origins, become the target's: what its decisions start
            // from. Entries the source has not (a change another source delivered here, not there yet) go: that source's
            // pair, started again, delivers it anew, where an entry kept would make it look delivered.
            var keys = Quote.List(shape.Key);
            await PumpAsync(src, tgt, slices.CopyVersionsOut(after is not null, upto is not null, sourceName),
                $"COPY {versionsTemp} FROM STDIN (FORMAT text)", ct);
            closing.Add(Command(CopySlices.SetBounds, (object?)after ?? DBNull.Value, (object?)upto ?? DBNull.Value));
            closing.Add(new NpgsqlBatchCommand(slices.DropVersions(after is not null, upto is not null, versionsTemp)));
            closing.Add(new NpgsqlBatchCommand($"""
                INSERT INTO {slices.RowVersions} AS r ({keys}, ferry_version, ferry_origin, ferry_based_on, ferry_xid)
                SELECT {keys}, ferry_version, ferry_origin, ferry_based_on, pg_current_xact_id() FROM {versionsTemp}
                ON CONFLICT ({keys}) DO UPDATE SET ferry_version = excluded.ferry_version, ferry_origin = excluded.ferry_origin,
                    ferry_based_on = excluded.ferry_based_on, ferry_xid = excluded.ferry_xid
                """));
        }
        return new Slice(copied, held, upto, closing);
    }

    /// <summary>
    /// Sets the slice's bounds in the source's transaction, for the COPY that follows, and returns its upper one (null:
    /// the slice runs to the table's end). One round trip for a sliced table, none for a first slice that is the whole.
    /// </summary>
    private static async Task<string[]?> BoundAsync(NpgsqlConnection src, CopySlices slices, string[]? after, int? sliceRows,
        CancellationToken ct)
    {
        if (sliceRows is null && after is null) return null;
        var bounds = Command(CopySlices.SetBounds, (object?)after ?? DBNull.Value, DBNull.Value);
        if (sliceRows is not { } n)
        {
            await ExecuteAsync(src, [bounds], ct);
            return null;
        }
        await using var batch = Batch(src, [bounds, Command(slices.SetUpperBound(after is not null), n)]);
        await using var r = await batch.ExecuteReaderAsync(ct);
        await r.NextResultAsync(ct);
        await r.ReadAsync(ct);
        return r.IsDBNull(0) ? null : r.GetFieldValue<string[]>(0);
    }

    /// <summary>
    /// Streams one COPY into the other (Read/CopyPump), both started at once; returns the rows that went. A stream
    /// that started is disposed when the other end failed to: the link's error is what the caller sees.
    /// </summary>
    private static async Task<long> PumpAsync(NpgsqlConnection src, NpgsqlConnection tgt, string copyOut, string copyIn, CancellationToken ct,
        CopyMeter? meter = null)
    {
        if (copyOut.EndsWith("(FORMAT binary)", StringComparison.Ordinal))
        {
            var (output, input) = await BothAsync(src.BeginRawBinaryCopyAsync(copyOut, ct), tgt.BeginRawBinaryCopyAsync(copyIn, ct));
            await using (output)
            await using (input)
            {
                var tuples = new CopyTupleCounter();
                await CopyPump.BinaryAsync(output, input, tuples, ct, meter is null ? null : meter.Moved);
                return tuples.Rows;
            }
        }
        var (reader, writer) = await BothAsync(src.BeginTextExportAsync(copyOut, ct), tgt.BeginTextImportAsync(copyIn, ct));
        using (reader)
        await using (writer)
            return (await CopyPump.TextAsync(reader, writer, ct, meter is null ? null : meter.Moved)).Rows;
    }

    private static async Task<(TA, TB)> BothAsync<TA, TB>(Task<TA> a, Task<TB> b) where TA : IDisposable where TB : IDisposable
    {
        try
        {
            await Task.WhenAll(a, b);
        }
        catch
        {
            if (a.IsCompletedSuccessfully) Quietly(a.Result);
            if (b.IsCompletedSuccessfully) Quietly(b.Result);
            throw;
        }
        return (a.Result, b.Result);

        static void Quietly(IDisposable d)
        {
            try
            {
                d.Dispose();
            }
            catch (Exception e) when (e is NpgsqlException or IOException or InvalidOperationException or ObjectDisposedException)
            {
                // The connection is broken or being closed: the failure already caught says why.
            }
        }
    }

    // Deleting or copying a large table takes as long as it takes: no command timeout. A dead link still breaks the
    // connection (keepalives and tcp_user_timeout, Postgres/Connect), and the target's transaction rolls back.
    private static NpgsqlBatch Batch(NpgsqlConnection c, IEnumerable<NpgsqlBatchCommand> commands)
    {
        var batch = new NpgsqlBatch(c) { Timeout = 0 };
        foreach (var command in commands) batch.BatchCommands.Add(command);
        return batch;
    }

    /// <summary>Statements pipelined: one round trip for all.</summary>
    private static async Task ExecuteAsync(NpgsqlConnection c, IEnumerable<NpgsqlBatchCommand> commands, CancellationToken ct)
    {
        await using var batch = Batch(c, commands);
        await batch.ExecuteNonQueryAsync(ct);
    }

    private static NpgsqlBatchCommand Command(string sql, params object?[] args)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var a in args) command.Parameters.Add(a as NpgsqlParameter ?? new NpgsqlParameter { Value = a ?? DBNull.Value });
        return command;
    }

    /// <summary>A NULL that PostgreSQL can type from its place ($4::pg_snapshot), sent as text.</summary>
    private static NpgsqlParameter Typed(string? value) =>
        new() { Value = (object?)value ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text };
}
