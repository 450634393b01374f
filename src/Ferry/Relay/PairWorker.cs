using Ferry.Postgres;
using Ferry.Progress;
using Microsoft.Extensions.Logging;

namespace Ferry.Relay;

/// <summary>
/// Runs one pair for as long as the relay runs: drain, wait for a NOTIFY, a kick or the poll interval, drain again.
/// A failure closes both connections (a half-finished chunk is rolled back by PostgreSQL, its cursor untouched)
/// and retries with backoff; other pairs are not held up (DESIGN invariant 6).
/// </summary>
public sealed partial class PairWorker(PairSetup setup, Wakeup wakeup, RelayStatus status, ILogger logger)
{
    public Pair Pair => setup.Pair;

    public Wakeup Wakeup => wakeup;

    public Herd Herd => setup.Herd;

    /// <summary>Rows a throttled batch must carry for the interval to grow: 2,000 rows a second at 50 ms.</summary>
    private const int SteadyLoadRows = 100;

    /// <summary>Raised after a batch put rows into the target: pairs reading from it may have something to forward.</summary>
    public event Action? Applied;

    public Task RunAsync(CancellationToken ct) => RunAsync(ct, ct);

    /// <summary>
    /// Runs until <paramref name="stop"/>: the pair then ends at its next wait or between batches, so the batch in
    /// flight commits. <paramref name="ct"/> (cancelled with or after <paramref name="stop"/>) abandons that batch too:
    /// PostgreSQL rolls back its open chunk, and the next run resends it.
    /// </summary>
    public async Task RunAsync(CancellationToken stop, CancellationToken ct)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(200), Defaults.MaxBackoff);
        var sizer = ChunkSizer.FromDefaults();
        var lastDrain = 0L;
        var sequences = new SequenceSync(setup, status, logger);
        PairRunner? runner = null;
        var openedAt = 0L;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    if (runner is null)
                    {
                        // Both ends answered: reachable, even if the pair is then refused (a copy to finish, say),
                        // so a database once down is not shown down for as long as its only pair waits.
                        var open = runner = await PairRunner.OpenAsync(setup, ct, async token =>
                        {
                            await status.DatabaseAsync(setup.Source.Name, true, null, token);
                            await status.DatabaseAsync(setup.Target.Name, true, null, token);
                        });
                        openedAt = System.Diagnostics.Stopwatch.GetTimestamp();
                        runner.OnChunk = async (c, token) =>
                        {
                            await status.ChunkAsync(setup.Pair, c.Rows, c.BatchLeft, c.OldestSeconds, c.Conflicts, token);
                            if (c.Conflicts > 0) await ConflictsRecordedAsync(open, c.Conflicts, token);
                        };
                        LogConnected(setup.Pair);
                        await status.HoldsAsync(setup.Pair, runner.Holds, ct);
                    }
                    // Asked to stop while connecting: no new batch (the one in flight is what a stop waits for).
                    stop.ThrowIfCancellationRequested();
                    DrainResult result;
                    var woken = true;
                    var interval = Defaults.MinBatchInterval;
                    do
                    {
                        // The first batch after a wakeup starts at once (latency); while changes keep coming, the
                        // next ones wait out an interval so that each carries many commits (throughput). The interval
                        // doubles while every batch finds a heavy load's worth (SteadyLoadRows), up to
                        // MaxBatchInterval: fewer and larger batches cost the source's writers less of the machine.
                        // A light load keeps the shortest interval: a row now and then must not wait for a long one.
                        var since = System.Diagnostics.Stopwatch.GetElapsedTime(lastDrain);
                        var throttled = !woken;
                        if (throttled && since < interval) await Task.Delay(interval - since, stop);
                        woken = false;
                        lastDrain = System.Diagnostics.Stopwatch.GetTimestamp();
                        if (wakeup.TakeKick()) runner.RetryHolds();
                        result = await runner.DrainAsync(sizer, ct);
                        await status.HoldsAsync(setup.Pair, runner.Holds, ct);
                        if (throttled && result.Rows >= SteadyLoadRows)
                            interval = TimeSpan.FromTicks(Math.Min(interval.Ticks * 2, Defaults.MaxBatchInterval.Ticks));
                        if (result.Rows > 0)
                        {
                            Applied?.Invoke();
                            LogApplied(setup.Pair, result.Rows, result.Chunks, result.Elapsed.TotalMilliseconds, result.RoundTripsPerChunk ?? 0, sizer.Rows);
                        }
                        await status.PairGoodAsync(setup.Pair, result, 0, runner.Position, ct);
                        // At most once per poll interval, so also under a write load that never lets the loop end.
                        await sequences.RunIfDueAsync(runner.Source, runner.Target, ct);
                    } while (result.Rows > 0 && !stop.IsCancellationRequested);
                    backoff.Reset();
                    await wakeup.WaitAsync(Defaults.PollInterval, stop);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    break;
                }
                catch (ShapeChanged e)
                {
                    // Not a failure: a schema change rolling out. Connect again, which reads both ends' columns anew
                    // (temporary tables too) and holds or resumes tables by them; soon, and later if it keeps happening.
                    LogShapeChanged(setup.Pair, e.Message);
                    if (runner is not null)
                    {
                        if (runner.Holds.Count > 0) await status.HoldsAsync(setup.Pair, runner.Holds, ct);
                        await runner.DisposeAsync();
                    }
                    runner = null;
                    try
                    {
                        await wakeup.WaitForKickAsync(backoff.Next(), stop);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
                catch (Exception e)
                {
                    // A broken link names its database; other errors do not say which end failed, so guess.
                    var link = e as LinkException;
                    var cause = link?.InnerException ?? e;
                    var message = e is FerryException or LinkException ? e.Message : PgErrors.Explain(Guess(e), e);
                    // A link failure is worth retrying however the driver put it (a COPY cut off at its source comes
                    // back from the target as 22P04, a data error's class): it needs a new connection, not a person.
                    var transient = link is not null || PgErrors.IsTransient(cause);
                    if (runner is { InFlightRows: > 0 } r) LogResend(setup.Pair, r.InFlightRows);
                    // A link that fails now and then but moves chunks in between, or broke after working for a while
                    // (a killed backend, a reset), is retried at once: backing off further after each failure would
                    // leave it idle most of the time. One that breaks as soon as it opens still backs off.
                    var atOnce = runner is { ChunksCommitted: > 0 }
                                 || (runner is not null && link is not null
                                     && System.Diagnostics.Stopwatch.GetElapsedTime(openedAt) > TimeSpan.FromSeconds(1));
                    if (atOnce) backoff.Reset();
                    LogFailed(setup.Pair, message);
                    if (runner is not null) await runner.DisposeAsync();
                    runner = null;
                    await RecordFailureAsync(e, link?.Database, message, transient, ct);
                    // Counting the lag connects to both ends and counts the source's entries (a second or more for a
                    // large backlog): a pair that retries at once measures it by draining, sooner than that.
                    if (!atOnce) await MeasureLagAsync(link?.Database, ct);
                    try
                    {
                        await wakeup.WaitForKickAsync(transient ? backoff.Next() : Defaults.MaxBackoff, stop);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
            }
        }
        finally
        {
            if (runner is not null) await runner.DisposeAsync();
        }
    }

    private async Task RecordFailureAsync(Exception e, Database? failed, string message, bool transient, CancellationToken ct)
    {
        try
        {
            if (failed is not null)
                await status.DatabaseAsync(failed.Name, false, message, ct);
            else if (!PgErrors.IsSqlError(e))
            {
                // Connection failures (refused, timed out, wrong password) name the database as Describe() does.
                if (message.Contains(setup.Source.Describe(), StringComparison.Ordinal))
                    await status.DatabaseAsync(setup.Source.Name, false, message, ct);
                if (message.Contains(setup.Target.Describe(), StringComparison.Ordinal))
                    await status.DatabaseAsync(setup.Target.Name, false, message, ct);
            }
            var kind = (e is LinkException { InnerException: { } inner } ? inner : e).GetType().Name;
            // Not transient: it needs a person (a grant, a password, a re-copy); ferry still tries again now and then.
            await status.PairFailedAsync(setup.Pair, e is FerryException { PairState: { } state } ? state
                : transient ? "retrying" : $"stopped ({kind}), tried again every {Defaults.MaxBackoff.TotalSeconds:F0} s", message, ct);
        }
        catch (Exception inner) when (inner is not OperationCanceledException)
        {
            LogFailed(setup.Pair, "could not record status: " + inner.Message);
        }
    }

    /// <summary>
    /// The conflicts the chunk just committed recorded, read back on the idle target connection for the relay's recent
    /// list (one query, only after a chunk that recorded some). A failed read costs the list, never the pair: an SQL
    /// error is logged; a broken link fails the next step of the drain anyway, where it is told which end broke.
    /// </summary>
    private async Task ConflictsRecordedAsync(PairRunner runner, long count, CancellationToken ct)
    {
        try
        {
            status.ConflictsRecorded(await RecentConflictReader.ReadAsync(runner.Target, setup.Pair, setup.SkipOrigins, count, ct));
        }
        catch (Npgsql.PostgresException e)
        {
            LogFailed(setup.Pair, "could not read back its conflicts: " + e.MessageText);
        }
    }

    /// <summary>
    /// While the pair cannot run, its lag is measured from the databases on each failure, so it keeps telling the
    /// truth: counted on the source against the target's position (read from the target, or the last one known when
    /// the target is the end that failed), and the last known figure, stale, when the source does not answer.
    /// </summary>
    private async Task MeasureLagAsync(Database? failed, CancellationToken ct)
    {
        try
        {
            var targetDown = failed == setup.Target
                             || status.Databases.TryGetValue(setup.Target.Name, out var t) && !t.Reachable;
            var lag = await Progress.LagProbe.MeasureAsync(setup.Source, targetDown ? null : setup.Target, setup.Pair,
                setup.SkipOrigins, setup.Herd.Tables, status.LagOf(setup.Pair), ct);
            await status.LagAsync(setup.Pair, lag, true, ct);
        }
        catch (Exception inner) when (inner is not OperationCanceledException)
        {
            LogFailed(setup.Pair, "could not measure its lag: " + inner.Message);
        }
    }

    // Errors from an open connection do not say which end failed; the message names the pair instead.
    private Database Guess(Exception e) => e.Message.Contains(setup.Target.DbName, StringComparison.Ordinal) ? setup.Target : setup.Source;

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Pair {Pair} connected")]
    private partial void LogConnected(Pair pair);

    [LoggerMessage(EventId = 101, Level = LogLevel.Information,
        Message = "Pair {Pair} applied {Rows} rows in {Chunks} chunks, {Millis:F1} ms, {RoundTrips:F1} round trips per chunk, next chunk {Budget} rows")]
    private partial void LogApplied(Pair pair, long rows, int chunks, double millis, double roundTrips, int budget);

    [LoggerMessage(EventId = 103, Level = LogLevel.Warning, Message = "Pair {Pair} lost a chunk in flight: {Rows} rows will be sent again")]
    private partial void LogResend(Pair pair, long rows);

    [LoggerMessage(EventId = 104, Level = LogLevel.Information, Message = "Pair {Pair} reconnects: {Message}")]
    private partial void LogShapeChanged(Pair pair, string message);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Pair {Pair} failed: {Message}")]
    private partial void LogFailed(Pair pair, string message);
}
