using Ferry.Capture;
using Ferry.Postgres;
using Ferry.Progress;
using Npgsql;

namespace Ferry.Read;

/// <summary>
/// Reads a pair's batch from its source, one REPEATABLE READ transaction per chunk: the counts, the truncates and
/// the COPY of every slice all see one snapshot, the batch's <c>to</c> snapshot is that very snapshot when the
/// batch starts, and the whole read costs one round trip plus one per table in the chunk.
/// </summary>
/// <param name="shapeNames">
/// The tables' qualified names, for <c>ferry.shapes</c>: each read returns the source's column fingerprints as its
/// snapshot sees them (<see cref="BatchPlan.SourceShapes"/>), so a column changed before a row was written is noticed
/// in the very read that carries the row.
/// </param>
public sealed class PairReader(NpgsqlConnection source, Pair pair, string[] skipOrigins, IReadOnlyList<ReadSql> tables,
    string[]? shapeNames = null)
{
    private bool _endPending;

    /// <summary>About the most bytes of rows read along with the plan (each table gets a share, at least 64 KiB).</summary>
    public const long InlineBytes = 1024 * 1024;

    /// <summary>How long the last slice's two COPYs took to start: about one round trip of the slower link.</summary>
    public TimeSpan LastCopyStart { get; private set; }

    public IReadOnlyList<ReadSql> Tables => tables;

    /// <summary>
    /// Opens the read transaction. Between batches, <paramref name="bounds"/> has no <c>To</c> and the transaction's
    /// own snapshot becomes it; inside a batch, the stored bounds are read again.
    /// </summary>
    /// <param name="inlineRows">
    /// Per table, how many entries to read along as text (0: none): small chunks then need no COPY at all.
    /// </param>
    /// <param name="inlineOnlyWhole">
    /// Read a table's entries along only if all of them in the batch fit: when a chunk may take more than rides
    /// along, a larger slice goes by COPY and the text rows would be read for nothing.
    /// </param>
    /// <param name="skip">Tables not read at all (held on this pair): no count, no rows, no truncates applied.</param>
    public async Task<BatchPlan> BeginAsync(string from, string? to, int startTable, string[]? afterKey, CancellationToken ct,
        Func<int, int>? inlineRows = null, bool inlineOnlyWhole = false, IReadOnlySet<int>? skip = null)
    {
        bool Reads(int t) => skip is null || !skip.Contains(t);
        _inlineOf.Clear();
        await using var batch = new NpgsqlBatch(source);
        // The previous chunk's read transaction ends in this round trip rather than in one of its own.
        if (_endPending) batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
        _endPending = false;
        // Between batches, the change logs are folded into the row versions first, committed on their own (the error
        // barrier ends the implicit transaction) so the read's snapshot sees them: still one round trip.
        if (to is null) batch.BatchCommands.Add(FoldCommand());
        batch.BatchCommands.Add(new NpgsqlBatchCommand("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
        var setup = new NpgsqlBatchCommand("""
            SELECT set_config('ferry.read_from', $1, true),
                   set_config('ferry.read_to', coalesce($2, pg_current_snapshot()::text), true),
                   set_config('ferry.read_skip', $3::text[]::text, true),
                   set_config('ferry.read_source', $4, true),
                   set_config('ferry.read_after', coalesce($5::text[], '{}')::text, true),
                   (SELECT value FROM ferry.meta WHERE key = 'node_id'),
                   pg_current_snapshot()::text,
                   (SELECT max(value::numeric)::text FROM ferry.meta WHERE key = ANY($6)),
                   CASE WHEN $7::text[] IS NOT NULL THEN ferry.shapes($7::text[]) END
            """);
        setup.Parameters.Add(new NpgsqlParameter { Value = from });
        setup.Parameters.Add(new NpgsqlParameter { Value = (object?)to ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        setup.Parameters.Add(new NpgsqlParameter { Value = skipOrigins });
        setup.Parameters.Add(new NpgsqlParameter { Value = pair.Source });
        setup.Parameters.Add(new NpgsqlParameter
        {
            Value = (object?)afterKey ?? DBNull.Value,
            NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text,
        });
        setup.Parameters.Add(new NpgsqlParameter { Value = _purgeMarkers });
        setup.Parameters.Add(new NpgsqlParameter
        {
            Value = (object?)shapeNames ?? DBNull.Value,
            NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text,
        });
        batch.BatchCommands.Add(setup);
        for (var t = startTable; t < tables.Count; t++)
            if (Reads(t)) batch.BatchCommands.Add(new NpgsqlBatchCommand(tables[t].Count(t == startTable && afterKey is not null)));
        batch.BatchCommands.Add(new NpgsqlBatchCommand(ReadSql.Truncates));
        var inlined = new int[tables.Count];
        // The budget is shared by the tables, so what rides along stays near 1 MiB however large the herd.
        var inlineBytes = Math.Max(64 * 1024, InlineBytes / Math.Max(1, tables.Count - startTable));
        for (var t = startTable; t < tables.Count; t++)
        {
            inlined[t] = Reads(t) ? inlineRows?.Invoke(t) ?? 0 : 0;
            if (inlined[t] <= 0) continue;
            var fetch = new NpgsqlBatchCommand(tables[t].Inline(t == startTable && afterKey is not null));
            _inlineOf[fetch] = t;
            fetch.Parameters.Add(new NpgsqlParameter<int> { TypedValue = inlined[t] });
            fetch.Parameters.Add(new NpgsqlParameter<long> { TypedValue = inlineBytes });
            fetch.Parameters.Add(new NpgsqlParameter<bool> { TypedValue = inlineOnlyWhole });
            batch.BatchCommands.Add(fetch);
        }

        var pending = new long[tables.Count];
        var tableRows = new double[tables.Count];
        var sampleKeys = new string[]?[tables.Count];
        double? oldest = null;
        var truncates = new List<TruncateEntry>();
        var inline = new InlineRows?[tables.Count];
        string batchTo, nodeId, now;
        string? purgedBelow;
        string[]? shapes;
        try
        {
            await using (var r = await batch.ExecuteReaderAsync(ct))
            {
                if (to is null) await r.NextResultAsync(ct);
                await r.ReadAsync(ct);
                batchTo = r.GetString(1);
                nodeId = r.GetString(5);
                now = r.GetString(6);
                purgedBelow = r.IsDBNull(7) ? null : r.GetString(7);
                shapes = r.IsDBNull(8) ? null : r.GetFieldValue<string[]>(8);
                for (var t = startTable; t < tables.Count; t++)
                {
                    if (!Reads(t)) continue;
                    await r.NextResultAsync(ct);
                    await r.ReadAsync(ct);
                    pending[t] = r.GetInt64(0);
                    if (!r.IsDBNull(1)) oldest = Math.Max(oldest ?? 0, r.GetDouble(1));
                    tableRows[t] = r.IsDBNull(2) ? 0 : r.GetDouble(2);
                    sampleKeys[t] = r.IsDBNull(3) ? null : r.GetFieldValue<string[]>(3);
                }
                await r.NextResultAsync(ct);
                while (await r.ReadAsync(ct))
                    truncates.Add(new TruncateEntry(new TableName(r.GetString(0), r.GetString(1)), r.GetDateTime(2), r.GetString(3)));
                for (var t = startTable; t < tables.Count; t++)
                    if (inlined[t] > 0)
                    {
                        await r.NextResultAsync(ct);
                        inline[t] = await ReadInlineAsync(r, ct);
                    }
            }
        }
        catch (PostgresException e) when (TableError.HoldsFor(e) && e.BatchCommand is { } c && _inlineOf.TryGetValue(c, out var failed))
        {
            // Only the inline fetches read a table's own rows; an error there is that table's (a grant, a column).
            throw new TableError(failed, e) { Database = pair.Source };
        }
        CheckContinuity(from, now);
        CheckTombstones(from, purgedBelow);
        return new BatchPlan(new BatchBounds(from, batchTo, startTable, afterKey), nodeId, pending, oldest, truncates)
        {
            Inline = inline,
            TableRows = tableRows,
            SampleKeys = sampleKeys,
            StartsBatch = to is null,
            SourceShapes = shapes,
        };
    }

    /// <summary>
    /// The purge markers of this pair's tables, and the database-wide one an older ferry wrote (it moved on every
    /// purge, so it only ever asks too often, never too rarely).
    /// </summary>
    private readonly string[] _purgeMarkers =
        tables.Select(t => new CaptureNames(t.Shape.Name).PurgedBelowKey).Prepend("tombstones_purged_below").ToArray();

    /// <summary>The inline fetch of each table in the batch being read: an error there is that table's.</summary>
    private readonly Dictionary<NpgsqlBatchCommand, int> _inlineOf = [];

    private readonly string _foldAll = "SELECT " + string.Join(", ",
        ChangeLog.Folds(tables.Select(t => t.Shape.Name)).Prepend("set_config('lock_timeout', $1, true)"));

    private NpgsqlBatchCommand FoldCommand()
    {
        var fold = new NpgsqlBatchCommand(_foldAll) { AppendErrorBarrier = true };
        fold.Parameters.Add(new NpgsqlParameter { Value = Defaults.Millis(Defaults.LockTimeout) });
        return fold;
    }

    private static async Task<InlineRows> ReadInlineAsync(NpgsqlDataReader r, CancellationToken ct)
    {
        var rows = new List<string?[]>();
        long chars = 0;
        while (await r.ReadAsync(ct))
        {
            var row = new string?[r.FieldCount];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = r.IsDBNull(i) ? null : r.GetString(i);
                chars += row[i]?.Length ?? 1;
            }
            rows.Add(row);
        }
        return new InlineRows(rows, chars);
    }

    /// <summary>Streams one slice straight into the target's COPY, without decoding a row.</summary>
    public async Task<long> CopySliceAsync(ChunkSlice slice, NpgsqlConnection target, string copyIn, CancellationToken ct)
    {
        var sql = tables[slice.Table];
        var copyOut = sql.CopyOut(slice.Limit, slice.AfterKey, slice.Whole, slice.Hash);
        if (sql.Shape.CanCopyBinary) return await PumpBinaryAsync(copyOut, target, copyIn, null, ct);
        var started = System.Diagnostics.Stopwatch.StartNew();
        var (reader, writer) = await BothAsync(source.BeginTextExportAsync(copyOut, ct), target.BeginTextImportAsync(copyIn, ct));
        LastCopyStart = started.Elapsed;
        using var readerScope = reader;
        await using var writerScope = writer;
        reader.Timeout = writer.Timeout = DeadLinkMillis;
        return (await CopyPump.TextAsync(reader, writer, ct)).Chars;
    }

    /// <summary>
    /// Streams the rows of a whole slice straight into <paramref name="copyIn"/> (binary COPY only); returns the
    /// bytes and the rows that went. Fewer rows than the slice's entries means some of them were deletes.
    /// </summary>
    public async Task<(long Bytes, long Rows)> CopyRowsAsync(ChunkSlice slice, NpgsqlConnection target, string copyIn, CancellationToken ct)
    {
        var tuples = new CopyTupleCounter();
        var bytes = await PumpBinaryAsync(tables[slice.Table].CopyRows(slice.AfterKey, slice.Hash), target, copyIn, tuples, ct);
        return (bytes, tuples.Rows);
    }

    /// <summary>Starts a binary COPY out of the source and one into the target, and streams the one into the other.</summary>
    private async Task<long> PumpBinaryAsync(string copyOut, NpgsqlConnection target, string copyIn, CopyTupleCounter? tuples,
        CancellationToken ct)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        // Both COPYs start at once: on two long links that is one wait, not two.
        var (output, input) = await BothAsync(source.BeginRawBinaryCopyAsync(copyOut, ct), target.BeginRawBinaryCopyAsync(copyIn, ct));
        LastCopyStart = started.Elapsed;
        await using (output)
        await using (input)
        {
            // A COPY that stalls must fail like any other command: set, not assumed, so a dead link is noticed.
            output.ReadTimeout = input.WriteTimeout = DeadLinkMillis;
            return await CopyPump.BinaryAsync(output, input, tuples, ct);
        }
    }

    public async Task EndAsync(CancellationToken ct)
    {
        _endPending = false;
        await using var cmd = new NpgsqlCommand("COMMIT", source);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Ends the read transaction with the next <see cref="BeginAsync"/>, saving a round trip per chunk; only for a
    /// caller that begins again at once (the transaction is idle meanwhile, bounded by the server's
    /// idle_in_transaction_session_timeout).
    /// </summary>
    public void EndWithNextBegin() => _endPending = true;

    /// <summary>Whether the read transaction is left for the next <see cref="BeginAsync"/> to end.</summary>
    public bool EndPending => _endPending;

    /// <summary>Awaits two starts; when one fails, the other's stream is closed before the failure goes on.</summary>
    private static async Task<(TA, TB)> BothAsync<TA, TB>(Task<TA> a, Task<TB> b) where TA : IDisposable where TB : IAsyncDisposable
    {
        try
        {
            await Task.WhenAll(a, b);
        }
        catch
        {
            if (a.IsCompletedSuccessfully) a.Result.Dispose();
            if (b.IsCompletedSuccessfully) await b.Result.DisposeAsync();
            throw;
        }
        return (a.Result, b.Result);
    }

    // As long as any command's answer is waited for (Connect.DeadLinkCommandSeconds): a COPY that stalls on a dead
    // link must fail within the dead-link bound with the rest of the reconnect, not only at the bound itself.
    private static int DeadLinkMillis => Connect.DeadLinkCommandSeconds * 1000;

    /// <summary>What to run: the copy also sets this pair's position (and restarts the target's other pairs of the sync).</summary>
    private string Recopy => $"(the relay may keep running): ferry copy {pair.Sync} to={pair.Target} from={pair.Source}.";

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
                $"Database {pair.Source} went back in time: its transaction ids ({current.Xmax}) are behind what was " +
                $"already applied from it ({applied.Xmax}). It was probably restored from a backup or replaced. " +
                "Ferry stopped this pair rather than skip or repeat changes. Re-copy the target from it " + Recopy);
    }

    /// <summary>
    /// The source purged tombstones this pair had not passed yet (it was away longer than the retention period):
    /// reading on would miss those deletes and leave the target diverged for good. Stop and say so.
    /// A pair that starts from the beginning has missed nothing: a new sync's databases hold the same rows when it is
    /// added, and a copy that resets a pair brings its target to the state of a source that received those deletes
    /// before they were purged (the purge waits for every pair that is not away).
    /// </summary>
    private void CheckTombstones(string from, string? purgedBelow)
    {
        if (purgedBelow is null || from == Progress.PairProgress.BeginningOfTime) return;
        if (PgSnapshot.Parse(from).Xmin < ulong.Parse(purgedBelow, System.Globalization.CultureInfo.InvariantCulture))
            throw new FerryException(
                $"This pair has been away from {pair.Source} longer than the tombstone retention " +
                $"({Defaults.TombstoneRetention.TotalHours:F0} h): deletes it had not received were purged there. The target " +
                "needs a re-copy from the source " + Recopy);
    }

}
