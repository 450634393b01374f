using Ferry.Capture;
using Ferry.Progress;
using Ferry.Read;
using Ferry.Resolve;
using Npgsql;

namespace Ferry.Apply;

/// <summary>
/// Applies chunks to a target: COPY into temporary tables, then one pipelined batch that resolves, applies and
/// records progress in a single transaction. On a long link the cost of a chunk is its round trips, so the whole
/// apply is one <see cref="NpgsqlBatch"/>: one round trip, however many tables and statements.
/// </summary>
/// <param name="keepVersions">
/// False on a plain target (<see cref="PlainTargets"/>): every incoming entry wins, so nothing is looked up, decided
/// or stamped; rows are written as they come, and a truncate is applied once, with the first chunk of its batch.
/// </param>
/// <param name="shapeNames">with <paramref name="targetShapes"/>: the tables' qualified names and the target's column
/// fingerprints the SQL was built for; each apply compares them again, after the apply lock, and raises
/// <c>FY002</c> (<see cref="ShapeChanged"/>) rather than apply rows in a shape the table no longer has</param>
/// <param name="waitForWal">The target is captured by WAL: before the fold and before the race check, the apply waits
/// for the capture to have logged what has committed there (<see cref="WalWaitSql"/>).</param>
public sealed class Applier(NpgsqlConnection target, Pair pair, string[] dbgroupOrder,
    IReadOnlyList<ApplySql> tables, bool useReplicaRole, bool keepVersions = true, string[]? shapeNames = null,
    string[]? targetShapes = null, bool waitForWal = false)
{
    /// <summary>
    /// Waits until WAL capture has logged every transaction committed on the target so far (node_070_wal_wait.sql):
    /// then its change log holds them, as trigger capture's would, for the fold and the race check to see. The insert
    /// position, not the flush position: a commit with synchronous_commit = off is not flushed when its locks go.
    /// </summary>
    public static string WalWaitSql => "SELECT ferry.wal_wait(pg_current_wal_insert_lsn(), " +
                                       Defaults.Millis(Defaults.WalWaitTimeout) + ")";

    private bool _tempTablesReady;

    private readonly string _foldAll = "SELECT " + string.Join(", ", ChangeLog.Folds(tables.Select(t => t.Shape.Name), limited: false));

    public IReadOnlyList<ApplySql> Tables => tables;

    /// <summary>The temporary tables live as long as the connection; a reconnect makes them again.</summary>
    public async Task PrepareAsync(CancellationToken ct)
    {
        if (_tempTablesReady) return;
        await using var batch = new NpgsqlBatch(target);
        foreach (var t in tables) batch.BatchCommands.Add(new NpgsqlBatchCommand(t.CreateTemp));
        foreach (var t in tables) batch.BatchCommands.Add(new NpgsqlBatchCommand(t.Clear));
        await batch.ExecuteNonQueryAsync(ct);
        _tempTablesReady = true;
    }

    public string CopyInSql(int table) => tables[table].CopyIn;

    /// <summary>
    /// The COPY that writes a table's rows straight into it, or null: only on a plain target, whose rows need no
    /// decision, and not where ferry sets session_replication_role, which the COPY would run without.
    /// </summary>
    public string? CopyDirectSql(int table) => keepVersions || useReplicaRole ? null : tables[table].CopyDirect;

    /// <summary>
    /// Resolves and applies what the chunk's COPYs put in the temporary tables, with its progress, atomically.
    /// Deletes run children first and upserts parents first, so foreign keys hold without superuser. Returns the
    /// cursor's key when the chunk cut a table mid-way, read in the same round trip, so resuming needs no extra one.
    /// </summary>
    /// <param name="expected">the progress the pair read or saved last: saved over only if still there</param>
    /// <param name="inTransaction">The chunk's COPYs already opened the transaction (rows copied straight in).</param>
    /// <param name="held">Tables held on the pair: none of their statements run, and no child's orphans are dropped
    /// for want of a parent row that may be waiting among a held parent's entries.</param>
    /// <param name="catchUp">A held table catching up (<see cref="TableHold"/>): the chunk moves its hold's cursor, or
    /// lifts the hold, instead of the pair's position.</param>
    /// <exception cref="TableError">an SQL error raised by one table's statements</exception>
    public async Task<string[]?> ApplyAsync(BatchPlan plan, Chunk chunk, PairProgress expected, CancellationToken ct, bool inTransaction = false,
        IReadOnlySet<int>? held = null, TableName? catchUp = null)
    {
        held ??= new HashSet<int>();
        using var flushes = waitForWal ? Capture.Wal.WalFlushDemand.Enter(pair.Target) : null;
        var inChunk = chunk.Slices.Select(s => s.Table).ToList();
        await using var batch = new NpgsqlBatch(target);
        var owners = new Dictionary<NpgsqlBatchCommand, int>();
        var recorders = new List<NpgsqlBatchCommand>();
        LastConflicts = 0;
        int? owner = null;
        void Add(string sql, params object?[] args)
        {
            var c = Command(sql, args);
            batch.BatchCommands.Add(c);
            if (owner is { } o) owners[c] = o;
        }

        if (!inTransaction) Add("BEGIN");
        // Slices read along with the plan come in here rather than by COPY: no round trip of their own.
        foreach (var slice in chunk.Slices)
            if (plan.InlineFor(slice) is { } rows)
            {
                owner = slice.Table;
                Add(tables[slice.Table].InsertInline,
                    Enumerable.Range(0, rows.Rows[0].Length).Select(c => (object?)rows.Column(c, slice.Limit)).ToArray());
            }
        owner = null;
        // ferry.origin marks these writes as ferry's: the capture triggers leave them alone (no echo); WAL capture
        // skips the transactions that carry ferry's marker.
        Add("SELECT set_config('ferry.origin', $1, true), set_config('lock_timeout', $2, true), " +
            "set_config('statement_timeout', $3, true), " + Capture.Wal.WalMarker.Emit,
            pair.Source, Defaults.Millis(Defaults.LockTimeout),
            // No longer than the relay waits for an answer (the dead-link bound): a statement it gave up on must not
            // run on, holding the apply lock against the retry.
            Defaults.Millis(Defaults.DeadLinkTimeout));
        Add(LockSql);
        batch.BatchCommands.Add(Guard(expected));
        if (shapeNames is not null && targetShapes is not null)
            Add("SELECT ferry.shape_changed('the columns of a replicated table changed on this database; ferry reads them again') " +
                "WHERE ferry.shapes($1::text[]) IS DISTINCT FROM $2::text[]", shapeNames, targetShapes);
        Add("SET CONSTRAINTS ALL DEFERRED");
        if (useReplicaRole) Add("SET LOCAL session_replication_role = replica");
        // Before the fold: what commits after it, a truncate's race check must see (TruncateSql.RaceCheck).
        if (keepVersions && plan.Truncates.Count > 0) Add(TruncateSql.NoteSince);
        // Decisions read this database's row versions: the application's changes still in the change logs go in
        // first, all of them. Every table, since truncates and foreign keys reach beyond the chunk's own.
        if (keepVersions && waitForWal) Add(WalWaitSql);
        if (keepVersions && tables.Count > 0) Add(_foldAll);

        // Every chunk of a batch reads the batch's truncates again. With versions, applying one again spares the rows
        // written after it; without, it would delete the rows the batch's earlier chunks wrote.
        var truncated = new List<(int Table, DateTime Version)>();
        foreach (var tr in keepVersions || plan.StartsBatch ? plan.Truncates.Reverse() : [])
        {
            var index = tables.ToList().FindIndex(x => x.Shape.Name == tr.Table);
            if (index < 0 || held.Contains(index)) continue;
            var t = tables[index];
            owner = index;
            Add(t.Truncate.Record, tr.Table.Schema, tr.Table.Name, tr.Version, tr.Origin);
            if (!keepVersions)
            {
                Add(t.Truncate.DeleteAll, tr.Version);
                continue;
            }
            // The keys of rows written lately are noted for the race check at the end (TruncateSql.RaceCheck).
            Add(t.Truncate.DeleteSettled, tr.Version);
            Add(t.Truncate.CreateNoted);
            Add(t.Truncate.DeleteNoting, tr.Version);
            truncated.Add((index, tr.Version));
        }
        foreach (var i in inChunk)
        {
            var t = tables[i];
            owner = i;
            if (keepVersions)
            {
                Add(t.Decide, dbgroupOrder, t.Shape.Name.Schema, t.Shape.Name.Name, pair.Target);
                Add(t.Unborn, t.Shape.Name.Schema, t.Shape.Name.Name);
                Add(t.RecordConflicts, t.Shape.Name.Schema, t.Shape.Name.Name, pair.Sync, t.Shape.Key.ToArray(), t.Rule.Name());
                recorders.Add(batch.BatchCommands[^1]);
                if (t.AbortOnConflict is { } abort) Add(abort, t.Shape.Name.Schema, t.Shape.Name.Name);
            }
            foreach (var u in t.Uniques)
            {
                Add(u.Record, dbgroupOrder, pair.Target, pair.Sync, t.Shape.Name.Schema, t.Shape.Name.Name,
                    t.Shape.Key.ToArray(), "unique " + u.Name);
                recorders.Add(batch.BatchCommands[^1]);
                Add(u.LoseIncoming, dbgroupOrder, pair.Target);
                Add(u.EvictLocal, dbgroupOrder, pair.Target);
            }
        }
        foreach (var i in keepVersions ? inChunk : [])
        {
            owner = i;
            Add(tables[i].StampVersions);
            Add(tables[i].StampNew);
        }
        for (var c = 0; c < tables.Count; c++)
            foreach (var (fk, parent) in tables[c].ForeignKeys)
                if (fk.EvictChildren is { } evict && inChunk.Contains(parent) && !held.Contains(c))
                {
                    var child = tables[c];
                    owner = c;
                    Add(evict, pair.Sync, child.Shape.Name.Schema, child.Shape.Name.Name, child.Shape.Key.ToArray(), fk.EvictRuleText, pair.Target);
                }
        foreach (var i in Enumerable.Reverse(inChunk))
        {
            owner = i;
            Add(tables[i].Delete);
        }
        foreach (var i in inChunk)
        {
            var t = tables[i];
            owner = i;
            foreach (var (fk, parent) in t.ForeignKeys)
                if (!held.Contains(parent))
                    Add(fk.DropOrphans, pair.Sync, t.Shape.Name.Schema, t.Shape.Name.Name, t.Shape.Key.ToArray(), fk.RuleText, pair.Target);
            if (t.Vacate is { } vacate) Add(vacate);
            // Without versions no entry was looked up: all are "new", and the DO block upserts if any row is there.
            if (keepVersions) Add(t.Upsert);
            Add(t.UpsertNew);
        }

        // Captured by WAL, a change committed while this apply ran reaches the log only once decoded: wait for it.
        if (keepVersions && waitForWal && (inChunk.Count > 0 || truncated.Count > 0)) Add(WalWaitSql);
        foreach (var i in keepVersions ? inChunk : [])
        {
            owner = i;
            Add(tables[i].RaceCheck, tables[i].Shape.Name.ToString());
        }
        foreach (var (i, version) in truncated)
        {
            owner = i;
            Add(tables[i].Truncate.RaceCheck, tables[i].Shape.Name.ToString(), version);
        }
        owner = null;

        var afterKey = chunk.CursorHasKey ? tables[chunk.CursorTable!.Value].LastKey : "NULL::text[]";
        if (catchUp is not null)
            Add(chunk.EndsBatch ? TableHold.LiftSql : TableHold.ResumeSql(afterKey), chunk.EndsBatch
                ? [pair.Sync, pair.Source, catchUp.Schema, catchUp.Name]
                : [pair.Sync, pair.Source, catchUp.Schema, catchUp.Name, plan.Bounds.To]);
        else
        Add(PairProgress.SaveSql(afterKey),
            pair.Sync, pair.Source,
            chunk.EndsBatch ? plan.Bounds.To : plan.Bounds.From,
            chunk.EndsBatch ? null : plan.Bounds.To,
            chunk.CursorTable,
            plan.SourceNodeId,
            chunk.Rows);
        if (chunk.CursorHasKey) Add($"SELECT {afterKey} AS {CursorColumn}");
        Add("COMMIT");
        foreach (var i in inChunk) Add(tables[i].Clear);
        FixTypes(batch);
        string[]? cursor = null;
        try
        {
            await using var r = await batch.ExecuteReaderAsync(ct);
            do
            {
                if (r.FieldCount == 1 && r.GetName(0) == CursorColumn && await r.ReadAsync(ct))
                    cursor = r.GetFieldValue<string[]>(0);
            } while (await r.NextResultAsync(ct));
            LastConflicts = recorders.Sum(c => (long)c.Rows);
        }
        catch (PostgresException e) when (e.SqlState == "FY002")
        {
            throw new ShapeChanged($"The columns of a replicated table changed on {pair.Target}; reading them again.", e);
        }
        catch (PostgresException e) when (TableError.HoldsFor(e) && OwnerOf(e, owners) is { } failed)
        {
            throw new TableError(failed, e) { Database = pair.Target };
        }
        return cursor;
    }

    /// <summary>
    /// The table whose statement raised <paramref name="e"/>; for a deferred constraint checked at COMMIT, the table
    /// the constraint is on. Null when no one table's statement failed.
    /// </summary>
    private int? OwnerOf(PostgresException e, Dictionary<NpgsqlBatchCommand, int> owners)
    {
        if (e.BatchCommand is { } c && owners.TryGetValue(c, out var t)) return t;
        if (e.TableName is null || e.SchemaName is null || e.SchemaName == "ferry") return null;
        var index = tables.ToList().FindIndex(x => x.Shape.Name.Schema == e.SchemaName && x.Shape.Name.Name == e.TableName);
        return index < 0 ? null : index;
    }

    /// <summary>
    /// After a table's error: ends the failed transaction and empties the temporary tables its chunk's COPYs filled, so
    /// the chunk can be applied again without that table on the same connection.
    /// </summary>
    public async Task AbandonAsync(CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(target);
        batch.BatchCommands.Add(new NpgsqlBatchCommand("ROLLBACK"));
        foreach (var t in tables) batch.BatchCommands.Add(new NpgsqlBatchCommand(t.Clear));
        await batch.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Conflicts the last chunk applied recorded in ferry.conflicts (decided rows and unique-key collisions).</summary>
    public long LastConflicts { get; private set; }

    private const string CursorColumn = "ferry_cursor";

    /// <summary>
    /// An empty batch still moves the stored snapshot forward, so the next read's xid range starts later; the
    /// caller does it only now and then, not on every poll.
    /// </summary>
    public async Task AdvanceAsync(BatchPlan plan, PairProgress expected, int timeoutSeconds, CancellationToken ct)
    {
        // One transaction, so the guard's verdict holds for the save.
        await using var batch = new NpgsqlBatch(target) { Timeout = timeoutSeconds };
        batch.BatchCommands.Add(Command("BEGIN"));
        batch.BatchCommands.Add(Guard(expected));
        batch.BatchCommands.Add(Command(PairProgress.SaveSql("NULL::text[]"), pair.Sync, pair.Source, plan.Bounds.To, null, null,
            plan.SourceNodeId, 0L));
        batch.BatchCommands.Add(Command("COMMIT"));
        FixTypes(batch);
        await batch.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// One apply at a time per database: two pairs deciding on the same key at once would each see the old entry and
    /// the later commit would win regardless of versions. A copy into the database takes it too, to set the pairs'
    /// positions between applies.
    /// </summary>
    public const string LockSql = "SELECT pg_advisory_xact_lock(hashtext('ferry.apply'))";

    private static NpgsqlBatchCommand Command(string sql, params object?[] args)
    {
        var c = new NpgsqlBatchCommand(sql);
        foreach (var a in args) c.Parameters.Add(new NpgsqlParameter { Value = a ?? DBNull.Value });
        return c;
    }

    /// <summary>Before a save of the pair's position (<see cref="PairProgress.GuardSql"/>).</summary>
    private NpgsqlBatchCommand Guard(PairProgress expected) =>
        Command(PairProgress.GuardSql, pair.Sync, pair.Source, expected.Batches, Copy.CopyCursor.Prefix(pair.Sync));

    /// <summary>A null parameter has no type of its own; give the few that can be null the type their column has.</summary>
    private static void FixTypes(NpgsqlBatch batch)
    {
        foreach (var c in batch.BatchCommands)
            foreach (NpgsqlParameter p in c.Parameters)
                if (p.Value == DBNull.Value) p.NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text;
    }
}
