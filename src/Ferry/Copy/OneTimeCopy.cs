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
/// <para>
/// Round trips, not bytes, decide whether an attempt fits between two resets of a bad link: an attempt opens both ends
/// at once, asks each end what it needs in one pipelined batch while the other end answers its own, and commits its
/// first slice in the transaction that empties the tables (nothing is committed before it, so an attempt cut off
/// earlier leaves nothing to undo), its last with the pair's position. A first attempt of one table costs the two
/// connections and about five round trips on each end, side by side (Copy/CopyRoundTrips holds the count).
/// </para>
/// </summary>
public static partial class OneTimeCopy
{
    /// <param name="replace">true: the target's rows are deleted first (onetimecopy=1); false: only empty tables are
    /// filled, the others kept as they are (onetimecopy=2)</param>
    /// <param name="restartFrom">the sync's other sources: their pairs into the target start again from the
    /// beginning, with the copy's last slice</param>
    /// <param name="progress">told how each table's copy goes (<see cref="CopyMeter"/>)</param>
    /// <param name="keepPosition">some of the sync's tables only (ferry copy tables=): the pair's position stays, since
    /// it holds for the other tables too. The snapshot is then taken after the apply lock, so the position (an apply's,
    /// committed before the lock) is no later than the snapshot: what the pair sends again of the copied tables from
    /// there is decided by versions, and nothing between the two is lost.</param>
    /// <returns>one line per table: what was copied or kept</returns>
    public static async Task<List<string>> CopyAsync(Database source, Database target, string sync, IReadOnlyList<TableName> tables,
        bool targetKeepsVersions, bool replace, IReadOnlyCollection<string> restartFrom, CancellationToken ct,
        IProgress<TableProgress>? progress = null, bool keepPosition = false)
    {
        var report = new List<string>();
        var (src, tgt) = await OpenBothAsync(source, target, ct);
        await using var sourceConnection = src;
        await using var targetConnection = tgt;

        // The source folds its change logs, committed before the snapshot below so that the row versions copied along
        // are current, while the target says where an earlier attempt got to and how its tables reference each other:
        // its foreign keys are the ones the copy's deletes and inserts must satisfy.
        var targetState = ReadTargetAsync(tgt, sync, source.Name, tables, ct);
        await Task.WhenAll(ChangeLog.CatchUpAsync(src, source.Name, sync, tables, ct), targetState);
        var (cursor, ordered, selfReferencing) = targetState.Result;
        // An unfinished copy of other tables: starting this one over it would leave those part filled for good.
        if (keepPosition && cursor is not null && !cursor.Fill.All(ordered.Contains))
            throw new FerryException($"An unfinished copy into {target.Name} from {source.Name} fills other tables " +
                                     $"({string.Join(", ", cursor.Fill)}): finish it first (ferry status gives its command), then copy these.");

        // The snapshot, with the shapes and sizes read in it, while the target either empties its tables (a first
        // attempt: in a transaction the first slice commits) or counts what an interrupted one left.
        var beginning = cursor is null ? BeginAsync(tgt, source.Name, target.Name, ordered, replace, report, ct) : null;
        if (keepPosition && beginning is not null) await beginning;
        var reading = ReadSourceAsync(src, ordered, progress is not null, ct);
        var checking = cursor is null ? null : ChangedSinceAsync(tgt, cursor, ct);
        await Task.WhenAll(reading, (Task?)beginning ?? checking!);
        var read = reading.Result;

        // A copy that replaces every table resumes only a cursor of every table: one left by a copy of some tables
        // (tables=) has a later position than the pair's, which this copy would otherwise save for the others too.
        var resumed = cursor is not null && cursor.NodeId == read.NodeId && cursor.Fill.All(ordered.Contains)
                      && (keepPosition || !replace || cursor.Fill.Count == ordered.Count);
        if (resumed && checking!.Result is { } changed)
        {
            // What the cursor says is there is not: resuming would leave those rows missing for good.
            if (!replace)
                throw new FerryException($"{target.Name} changed since its copy from {source.Name} was interrupted ({changed}). Empty " +
                                         "the tables the copy filled and run it again, or copy with replace (onetimecopy=1, mode=replace).");
            report.Add($"{target.Name} changed since its copy from {source.Name} was interrupted ({changed}): the copy starts over.");
            resumed = false;
        }
        // The target's transaction: open from BeginAsync (holding the apply lock) until the first slice commits.
        bool open = false, holdsLock = false, finished = false;
        if (resumed)
        {
            report.Add($"{target.Name}: resuming the copy from {source.Name} at {cursor!.Fill.ElementAtOrDefault(cursor.Table)?.ToString() ?? "its end"}.");
        }
        else
        {
            var fill = beginning is not null ? beginning.Result : await BeginAsync(tgt, source.Name, target.Name, ordered, replace, report, ct);
            cursor = new CopyCursor(read.Snapshot, read.NodeId, fill, 0, null, new long[fill.Count]);
            open = holdsLock = true;
        }

        while (cursor!.Table < cursor.Fill.Count)
        {
            var table = cursor.Fill[cursor.Table];
            var shape = read.Shapes.GetValueOrDefault(table)
                        ?? throw new FerryException($"Table {table} does not exist in database {source.Name} (or ferry cannot see it).");
            var slices = new CopySlices(shape);
            // A resumed attempt may meet children of parents it has not copied yet (see above).
            var parents = resumed ? await ParentsInHerdAsync(tgt, table, ordered, ct) : [];
            // Not in slices when its rows reference each other (a slice could name a row of a later one), nor when the
            // source's statistics put it well under a slice: finding a slice's end walks its keys.
            var sliceRows = !selfReferencing.Contains(table) && (read.Tuples[table] < 0 || read.Tuples[table] >= Defaults.CopySliceRows / 2.0)
                ? Defaults.CopySliceRows : (int?)null;
            var meter = progress is null ? null : new CopyMeter($"copy {source.Name} -> {target.Name}", table, cursor.Table + 1,
                cursor.Fill.Count, cursor.Copied[cursor.Table], read.Estimates.GetValueOrDefault(table), progress);
            long waiting = 0;
            while (true)
            {
                var lastTable = cursor.Table == cursor.Fill.Count - 1;
                var slice = await CopySliceAsync(src, tgt, source.Name, slices, shape, parents, targetKeepsVersions, cursor.After,
                    sliceRows, open, lockIfLast: lastTable && !holdsLock, meter, ct);
                waiting += slice.Held;
                var last = slice.Upto is null;
                // The table's last slice is told by Done, once: a line for it here would repeat the total.
                if (!last) meter?.SliceDone(slice.Copied + slice.Held);
                cursor.Copied[cursor.Table] += slice.Copied;
                cursor = cursor with { Table = last ? cursor.Table + 1 : cursor.Table, After = slice.Upto };
                var closing = slice.Closing;
                finished = cursor.Table == cursor.Fill.Count;
                if (finished) closing.AddRange(Finish(sync, source.Name, cursor, restartFrom, keepPosition, lockNow: false));
                else closing.Add(cursor.Save(sync, source.Name));
                closing.Add(new NpgsqlBatchCommand("COMMIT"));
                await ExecuteAsync(tgt, closing, ct);
                open = holdsLock = false;
                if (last) break;
            }
            meter?.Done(cursor.Copied[cursor.Table - 1]);
            if (waiting > 0)
                report.Add($"{target.Name}: {waiting} rows of {table} name parents copied before they were written: the pair brings them.");
        }
        if (!finished)
        {
            // Nothing left to copy (onetimecopy=2 found no empty table, or the attempt before ended with the last slice
            // but not this step): the position alone.
            List<NpgsqlBatchCommand> finish = open ? [] : [new("BEGIN")];
            finish.AddRange(Finish(sync, source.Name, cursor, restartFrom, keepPosition, lockNow: !holdsLock));
            finish.Add(new NpgsqlBatchCommand("COMMIT"));
            await ExecuteAsync(tgt, finish, ct);
        }
        report.AddRange(cursor.Fill.Select((t, i) => $"{target.Name}: {t} copied from {source.Name}, {cursor.Copied[i]} rows."));
        // The source's read transaction ends with its connection: it wrote nothing.
        return report;
    }

    /// <summary>
    /// The end of the copy, in the transaction of its last slice: the pair's position becomes the copy's snapshot, the
    /// other sources' pairs start again, and the cursor goes. After the pairs' applies in flight (the relay may run):
    /// they find the new positions, and read them again. The lock is taken when the transaction begins
    /// (<paramref name="lockNow"/> false): taken after the slice's rows, it could wait for an apply that waits for them.
    /// </summary>
    private static IEnumerable<NpgsqlBatchCommand> Finish(string sync, string source, CopyCursor cursor, IReadOnlyCollection<string> restartFrom,
        bool keepPosition, bool lockNow)
    {
        if (lockNow) yield return new NpgsqlBatchCommand(Applier.LockSql);
        if (!keepPosition)
            yield return Command(PairProgress.SaveSql("NULL::text[]"), sync, source, cursor.Position, Typed(null), Typed(null), cursor.NodeId,
                cursor.Copied.Sum());
        if (restartFrom.Count > 0)
            yield return Command("DELETE FROM ferry.progress WHERE sync_name = $1 AND source_name = ANY($2)", sync, restartFrom.ToArray());
        yield return CopyCursor.Clear(sync, source);
    }

    /// <summary>
    /// A first attempt's target transaction, left open for the first slice to commit in: the apply lock (an apply of
    /// this sync in flight finishes first, and every later one finds the cursor committed with the slice and waits,
    /// PairProgress.GuardSql), then the tables to fill emptied, children first, or the empty ones found.
    /// </summary>
    /// <returns>the tables to fill, parents first</returns>
    private static async Task<List<TableName>> BeginAsync(NpgsqlConnection tgt, string sourceName, string targetName,
        IReadOnlyList<TableName> ordered, bool replace, List<string> report, CancellationToken ct)
    {
        List<NpgsqlBatchCommand> begin =
        [
            new("BEGIN"), new(Applier.LockSql), Command("SELECT set_config('ferry.origin', $1, true), " + Capture.Wal.WalMarker.Emit, sourceName),
            new("SET CONSTRAINTS ALL DEFERRED"),
        ];
        if (replace)
        {
            begin.AddRange(Enumerable.Reverse(ordered).Select(t => new NpgsqlBatchCommand($"DELETE FROM {Quote.Qualified(t)}")));
            await ExecuteAsync(tgt, begin, ct);
            return [.. ordered];
        }
        // The empty ones, one character each ('1': empty), found by the column's name among the batch's results.
        begin.Add(new NpgsqlBatchCommand("SELECT " + string.Join(" || ", ordered.Select(t => $"(NOT EXISTS (SELECT 1 FROM {Quote.Qualified(t)}))::int::text")) +
                                         " AS ferry_empty"));
        var empty = "";
        await using (var batch = Batch(tgt, begin))
        await using (var r = await batch.ExecuteReaderAsync(ct))
        {
            do
            {
                while (await r.ReadAsync(ct))
                    if (r.FieldCount == 1 && r.GetName(0) == "ferry_empty") empty = r.GetString(0);
            } while (await r.NextResultAsync(ct));
        }
        var fill = new List<TableName>();
        for (var i = 0; i < ordered.Count; i++)
        {
            if (empty[i] == '1') fill.Add(ordered[i]);
            else report.Add($"{targetName}: {ordered[i]} kept as it is (it has rows; onetimecopy=2 fills empty tables only).");
        }
        return fill;
    }

    /// <summary>
    /// Whether the target still holds what the interrupted copy wrote: as many rows in each table it filled as it
    /// counted (nothing of ferry's writes there while a copy is unfinished: the sync is not added yet, or its pairs
    /// into the target wait for the copy, PairProgress.GuardSql).
    /// Null when it does; otherwise the first table that differs.
    /// </summary>
    private static async Task<string?> ChangedSinceAsync(NpgsqlConnection tgt, CopyCursor cursor, CancellationToken ct)
    {
        var upto = Math.Min(cursor.Table + 1, cursor.Fill.Count);
        if (upto == 0) return null;
        var sql = "SELECT ARRAY[" + string.Join(", ", cursor.Fill.Take(upto).Select(t => $"(SELECT count(*) FROM {Quote.Qualified(t)})")) + "]::bigint[]";
        await using var cmd = new NpgsqlCommand(sql, tgt) { CommandTimeout = 0 };
        var rows = (long[])(await cmd.ExecuteScalarAsync(ct))!;
        for (var i = 0; i < upto; i++)
            if (rows[i] != cursor.Copied[i]) return $"{cursor.Fill[i]} holds {rows[i]} rows, the copy wrote {cursor.Copied[i]}";
        return null;
    }

    /// <summary>The table's foreign keys to other tables being copied, as the target has them.</summary>
    private static async Task<IReadOnlyList<ForeignKey>> ParentsInHerdAsync(NpgsqlConnection tgt, TableName table,
        IReadOnlyList<TableName> herd, CancellationToken ct) =>
        (await TableCatalog.ForeignKeysFromAsync(tgt, table, ct)).Where(fk => herd.Contains(fk.Parent)).ToList();
}
