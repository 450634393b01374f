using System.Diagnostics;
using Ferry.Apply;
using Ferry.Capture;
using Ferry.Install;
using Ferry.Postgres;
using Ferry.Progress;
using Ferry.Read;
using Npgsql;

namespace Ferry.Relay;

/// <summary>
/// What one drain of a pair did. <see cref="ChunkRoundTrips"/> counts the waits for an answer spent on its chunks,
/// on both links (a pipelined batch is one, a COPY two on the target and one on the source): on a long link they,
/// not bytes, are the cost.
/// </summary>
/// <see cref="DirectRows"/> counts the rows copied straight into their tables, <see cref="DirectRefusals"/> the chunks
/// where that was refused and the usual way taken instead.
public sealed record DrainResult(long Rows, int Chunks, long Bytes, long PendingBefore, double? OldestSeconds, TimeSpan Elapsed,
    int ChunkRoundTrips = 0, long DirectRows = 0, int DirectRefusals = 0)
{
    public double? RoundTripsPerChunk => Chunks == 0 ? null : (double)ChunkRoundTrips / Chunks;
}

/// <summary>A chunk just committed on the target (<see cref="PairRunner.OnChunk"/>).</summary>
public sealed record ChunkCommitted(long Rows, long BatchLeft, double? OldestSeconds, long Conflicts);

/// <summary>
/// The pipeline for one pair over two open connections: read a batch from the source, apply it to the target
/// chunk by chunk, each chunk committed with its cursor. No retry, no loop, no status: <see cref="PairWorker"/> adds
/// those, and <c>ferry debug run-once</c> uses this alone.
/// </summary>
public sealed partial class PairRunner : IAsyncDisposable
{
    private readonly PairSetup _setup;
    private readonly NpgsqlConnection _source;
    private readonly NpgsqlConnection _target;
    private readonly PairReader _reader;
    private readonly Applier _applier;
    private PairProgress? _progress;
    private DateTime _lastAdvance = DateTime.MinValue;
    private DateTime _lastTargetContact = DateTime.UtcNow;
    private ChunkSizer? _fixedSizer;
    private PairPhase _phase;

    private PairRunner(PairSetup setup, NpgsqlConnection source, NpgsqlConnection target, PairReader reader, Applier applier,
        PairTables tables)
    {
        _tables = tables;
        _setup = setup;
        _source = source;
        _target = target;
        _reader = reader;
        _applier = applier;
    }

    public NpgsqlConnection Source => _source;

    public NpgsqlConnection Target => _target;

    /// <summary>Rows of the chunk being copied or applied now: what a failure at this instant would send again.</summary>
    public long InFlightRows { get; private set; }

    /// <summary>Chunks this runner committed since its connections opened.</summary>
    public long ChunksCommitted { get; private set; }

    /// <summary>The snapshot the target has applied the pair through, as last read or committed (null: not read yet).</summary>
    public string? Position => _progress?.AppliedThrough;

    /// <summary>
    /// Told after each chunk of a batch commits: its rows, the entries the batch has left, the age of the batch's
    /// oldest entry, and the conflicts the chunk recorded. A long drain shows its progress as it goes.
    /// </summary>
    public Func<ChunkCommitted, CancellationToken, Task>? OnChunk { get; set; }

    /// <param name="reached">told once both ends answered, before the checks that may refuse the pair (an older schema,
    /// an unfinished copy): whatever those say, neither database is unreachable</param>
    public static async Task<PairRunner> OpenAsync(PairSetup setup, CancellationToken ct, Func<CancellationToken, Task>? reached = null)
    {
        var source = await OpenEndAsync(setup.Source, "ferry read " + setup.Pair, ct);
        NpgsqlConnection? target = null;
        try
        {
            target = await OpenEndAsync(setup.Target, "ferry apply " + setup.Pair, ct);
            if (reached is not null) await reached(ct);
            await NodeInstaller.CheckVersionAsync(source, setup.Source.Name, ct);
            await NodeInstaller.CheckVersionAsync(target, setup.Target.Name, ct);
            await Capture.Wal.WalSlot.ThrowIfLostAsync(source, setup.Source, ct);
            await Copy.CopyCursor.RefuseUnfinishedAsync(target, setup.Pair, ct);
            var tables = await setup.BuildAsync(source, target, ct);
            var (read, apply) = (tables.Read, tables.Apply);
            // Everything written on this connection is ferry's: the capture triggers leave it alone. The apply batch
            // says so per transaction too; rows copied straight into a table arrive before that statement does.
            await using (var origin = new NpgsqlCommand("SELECT set_config('ferry.origin', $1, false)", target))
            {
                origin.Parameters.Add(new NpgsqlParameter<string> { TypedValue = setup.Pair.Source });
                await origin.ExecuteNonQueryAsync(ct);
            }
            // After an outage the change logs may hold millions of entries: folded now, in limited calls, the read's
            // and the apply's folds stay small.
            await ChangeLog.CatchUpAsync(source, setup.Source.Name, setup.Pair.Sync, read.Select(r => r.Shape.Name).ToList(), ct);
            if (setup.TargetKeepsVersions) await ChangeLog.CatchUpAsync(target, setup.Target.Name, setup.Pair.Sync, apply.Select(a => a.Shape.Name).ToList(), ct);
            var replicaRole = await GrantCheck.CanSetReplicationRoleAsync(target, ct);
            var reader = new PairReader(source, setup.Pair, setup.SkipOrigins, read, tables.Names);
            var applier = new Applier(target, setup.Pair, setup.Order, apply, replicaRole, setup.TargetKeepsVersions,
                tables.Names, tables.TargetShapes, waitForWal: setup.Target.CapturesWal && setup.TargetIsRead);
            var runner = new PairRunner(setup, source, target, reader, applier, tables);
            await runner.LoadHoldsAsync(ct);
            return runner;
        }
        catch (Exception e)
        {
            var failed = target is null ? null : LinkFailure.Attribute(e, setup, source, target, PairPhase.Connecting);
            await source.DisposeAsync();
            if (target is not null) await target.DisposeAsync();
            if (failed is not null) throw failed;
            throw;
        }
    }

    private static async Task<NpgsqlConnection> OpenEndAsync(Database db, string applicationName, CancellationToken ct)
    {
        try
        {
            return await Connect.OpenAsync(db, ct, applicationName, deadLinkBound: true);
        }
        catch (FerryException e) when (e.InnerException is not null && PgErrors.IsTransient(e))
        {
            throw LinkFailure.Opening(db, e);
        }
    }

    /// <summary>Applies everything the source holds for the target now, in chunks of exactly <paramref name="chunkRows"/> rows at most.</summary>
    public Task<DrainResult> DrainAsync(int chunkRows, CancellationToken ct)
    {
        // Kept across calls, so the row widths learned by one drain size the next one's reads.
        if (_fixedSizer?.MaxRows != chunkRows) _fixedSizer = ChunkSizer.Fixed(chunkRows, _fixedSizer);
        return DrainAsync(_fixedSizer, ct);
    }

    /// <summary>
    /// Applies everything the source holds for the target now, in chunks sized by <paramref name="sizer"/>. A failure
    /// on a connection comes out as a <see cref="LinkException"/> naming the database whose link broke.
    /// </summary>
    public async Task<DrainResult> DrainAsync(ChunkSizer sizer, CancellationToken ct)
    {
        try
        {
            return await DrainCoreAsync(sizer, ct);
        }
        catch (Exception e) when (e is not FerryException and not ShapeChanged && !(e is OperationCanceledException && ct.IsCancellationRequested))
        {
            if (InFlightRows > 0) sizer.Failed();
            // A deferred constraint fails at the apply's COMMIT: the retry must not copy straight in again.
            if (PgErrors.IsDataRefusal(e))
                foreach (var t in _direct) sizer.DirectRefused(t);
            if (LinkFailure.Attribute(e, _setup, _source, _target, _phase) is { } failed) throw failed;
            throw;
        }
    }

    private async Task<DrainResult> DrainCoreAsync(ChunkSizer sizer, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        InFlightRows = 0;
        _progress ??= await PairProgress.LoadAsync(_target, _setup.Pair, ct);
        await _applier.PrepareAsync(ct);
        long rows = 0, bytes = 0, pendingBefore = -1, batchRows = 0;
        double? oldest = null;
        var chunks = 0;
        var trips = 0;
        long directRows = 0;
        var refusals = 0;
        // Held tables whose cause is gone catch up first, between batches: their entries up to the pair's position.
        if (!_progress.InsideBatch) (rows, chunks) = await CatchUpDueAsync(sizer, ct);
        while (true)
        {
            try
            {
                var chunkClock = Stopwatch.StartNew();
                _phase = PairPhase.Reading;
                var p = _progress;
                var plan = await _reader.BeginAsync(p.AppliedThrough ?? PairProgress.BeginningOfTime, p.ChunkTo,
                    p.ChunkTable ?? 0, p.ChunkAfterKey, ct, sizer.InlineRows, sizer.Rows > ChunkSizer.InlineMaxRows, Held);
                plan = await CheckSourceShapesAsync(plan, ct);
                for (var t = 0; t < plan.Inline.Count; t++)
                    if (plan.Inline[t] is { Rows.Count: > 0 } seen) sizer.Copied(t, seen.Rows.Count, seen.Chars);
                if (p.SourceNodeId is { } known && known != plan.SourceNodeId)
                {
                    await _reader.EndAsync(ct);
                    throw new FerryException(
                        $"Database {_setup.Source.Name} is not the database this pair was replicating from (its ferry node id " +
                        $"changed from {known} to {plan.SourceNodeId}): it was replaced or re-installed. Ferry stopped this pair " +
                        "rather than skip changes. Re-copy the target from it (the relay may keep running): ferry copy " +
                        $"{_setup.Pair.Sync} to={_setup.Target.Name} from={_setup.Source.Name}.");
                }
                if (pendingBefore < 0)
                {
                    pendingBefore = plan.Total;
                    oldest = plan.OldestSeconds;
                }
                if (plan.IsEmpty)
                {
                    await _reader.EndAsync(ct);
                    // Move the stored snapshot now and then, so the xid range the next read scans stays short.
                    // A heartbeat once a minute even when nothing changed, so the tombstone purger can tell a pair that
                    // is idle from one that is away.
                    // Either contact below is the idle pair's, with the idle pair's shorter timeout.
                    var since = DateTime.UtcNow - _lastAdvance;
                    if ((plan.Bounds.To != plan.Bounds.From && since > TimeSpan.FromSeconds(5)) || since > TimeSpan.FromSeconds(60))
                    {
                        await _applier.AdvanceAsync(plan, p, Connect.IdleCommandSeconds, ct);
                        _progress = p with { AppliedThrough = plan.Bounds.To, SourceNodeId = plan.SourceNodeId, Batches = p.Batches + 1 };
                        _lastAdvance = _lastTargetContact = DateTime.UtcNow;
                    }
                    else if (DateTime.UtcNow - _lastTargetContact > (_holds.Count > 0 ? Defaults.PollInterval : Defaults.DeadLinkTimeout / 4))
                    {
                        // An idle target is still asked now and then, so a link that died quietly is noticed while idle;
                        // the question is its columns, so a table held for them resumes soon after they are fixed.
                        await CheckTargetShapesAsync(ct);
                        _lastTargetContact = DateTime.UtcNow;
                    }
                    return new DrainResult(rows, chunks, bytes, pendingBefore, oldest, clock.Elapsed, trips, directRows, refusals);
                }

                var budget = sizer.Rows;
                var chunk = Chunk.Plan(plan, budget, sizer.MaxBytes, sizer.BytesPerRow, sizer.MinRows);
                InFlightRows = chunk.Rows;
                trips++; // the read's begin, counts and truncates: one pipelined batch
                _direct = await DirectTablesAsync(plan, chunk, sizer, ct);
                // Rows copied straight into their table must commit with the chunk's apply: the COPYs open its transaction
                // (Npgsql sends the BEGIN with the first of them, no round trip of its own).
                var transaction = _direct.Count > 0 ? await _target.BeginTransactionAsync(ct) : null;
                _copiesStarted = 0;
                string[]? cursorKey;
                bytes += chunk.Slices.Sum(slice => plan.InlineFor(slice)?.Chars ?? 0);
                _phase = PairPhase.Copying;
                try
                {
                    try
                    {
                        bytes += await CopyChunkAsync(plan, chunk, sizer, ct);
                    }
                    catch (Exception e) when (transaction is not null && (e is DirectRefused || PgErrors.IsDataRefusal(e)))
                    {
                        // A row already there, a delete among the entries, a constraint: undo, and take the usual way.
                        await transaction.RollbackAsync(ct);
                        await transaction.DisposeAsync();
                        transaction = null;
                        foreach (var t in _direct) sizer.DirectRefused(t);
                        _direct.Clear();
                        trips += 1; // the ROLLBACK
                        refusals++;
                        bytes += await CopyChunkAsync(plan, chunk, sizer, ct);
                    }
                    trips += _copiesStarted * 3; // each COPY: out starts; in starts, and ends (a refused one too)

                    // Inside a batch the next chunk's read begins at once: its round trip ends this transaction too. At the
                    // batch's end the read commits while the target applies: two links, one wait.
                    if (!chunk.EndsBatch) _reader.EndWithNextBegin();
                    _phase = PairPhase.Applying;
                    var applying = _applier.ApplyAsync(plan, chunk, p, ct, inTransaction: transaction is not null, Held);
                    try
                    {
                        await Task.WhenAll(applying, chunk.EndsBatch ? _reader.EndAsync(ct) : Task.CompletedTask);
                    }
                    finally
                    {
                        // Committed on the target is committed, whatever happened to the source meanwhile.
                        if (applying.IsCompletedSuccessfully) InFlightRows = 0;
                    }
                    cursorKey = applying.Result;
                }
                finally
                {
                    // Committed by the apply batch, or to be rolled back; on a broken link the connection goes anyway.
                    if (transaction is not null)
                        try { await transaction.DisposeAsync(); }
                        catch (Exception e) when (e is NpgsqlException or InvalidOperationException) { }
                }
                trips += chunk.EndsBatch ? 2 : 1;
                _lastTargetContact = DateTime.UtcNow;
                // A batch's last chunk stored its snapshot: that was the advance and the heartbeat. Without this an
                // empty read under a light steady load advanced again every 5 s, a target round trip that a write
                // arriving meanwhile waited for (a fifth of a second over a long link).
                if (chunk.EndsBatch) _lastAdvance = _lastTargetContact;
                InFlightRows = 0;
                ChunksCommitted++;
                rows += chunk.Rows;
                batchRows += chunk.Rows;
                chunks++;
                sizer.Committed(chunk.Rows, budget, chunkClock.Elapsed);
                // The cursor just committed, known without asking the target again.
                _progress = chunk.EndsBatch
                    ? new PairProgress(plan.Bounds.To, null, null, null, plan.SourceNodeId, p.Batches + 1)
                    : new PairProgress(plan.Bounds.From, plan.Bounds.To, chunk.CursorTable, cursorKey, plan.SourceNodeId, p.Batches + 1);
                directRows += chunk.Slices.Where(slice => _direct.Contains(slice.Table)).Sum(slice => (long)slice.Limit);
                if (OnChunk is { } report)
                    await report(new ChunkCommitted(chunk.Rows, Math.Max(0, pendingBefore - batchRows), oldest, _applier.LastConflicts), ct);
                if (chunk.EndsBatch)
                    return new DrainResult(rows, chunks, bytes, pendingBefore, oldest, clock.Elapsed, trips, directRows, refusals);
            }
            catch (TableError e) when (e.Holds && !_holds.ContainsKey(e.Table))
            {
                // That table waits, with its entries; the chunk is read and applied again without it.
                await HoldForErrorAsync(e, ct);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _source.DisposeAsync();
        await _target.DisposeAsync();
    }
}
