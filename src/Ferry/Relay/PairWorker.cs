using Ferry.Postgres;
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

    public async Task RunAsync(CancellationToken ct)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(200), Defaults.MaxBackoff);
        PairRunner? runner = null;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    if (runner is null)
                    {
                        runner = await PairRunner.OpenAsync(setup, ct);
                        await status.DatabaseAsync(setup.Source.Name, true, null, ct);
                        await status.DatabaseAsync(setup.Target.Name, true, null, ct);
                        LogConnected(setup.Pair);
                    }
                    DrainResult result;
                    do
                    {
                        result = await runner.DrainAsync(Defaults.ChunkRows, ct);
                        if (result.Rows > 0) LogApplied(setup.Pair, result.Rows, result.Chunks, result.Elapsed.TotalMilliseconds);
                        await status.PairGoodAsync(setup.Pair, result, 0, ct);
                    } while (result.Rows > 0 && !ct.IsCancellationRequested);
                    backoff.Reset();
                    await wakeup.WaitAsync(Defaults.PollInterval, ct);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception e)
                {
                    var message = e is FerryException ? e.Message : PgErrors.Explain(Guess(e), e);
                    var transient = PgErrors.IsTransient(e);
                    LogFailed(setup.Pair, message);
                    if (runner is not null) await runner.DisposeAsync();
                    runner = null;
                    await RecordFailureAsync(e, message, transient, ct);
                    try
                    {
                        await Task.Delay(transient ? backoff.Next() : Defaults.MaxBackoff, ct);
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

    private async Task RecordFailureAsync(Exception e, string message, bool transient, CancellationToken ct)
    {
        try
        {
            if (transient && message.Contains(setup.Source.Name, StringComparison.Ordinal))
                await status.DatabaseAsync(setup.Source.Name, false, message, ct);
            if (transient && message.Contains(setup.Target.Name, StringComparison.Ordinal))
                await status.DatabaseAsync(setup.Target.Name, false, message, ct);
            await status.PairFailedAsync(setup.Pair, transient ? "retrying" : "stopped: " + e.GetType().Name, message, ct);
        }
        catch (Exception inner) when (inner is not OperationCanceledException)
        {
            LogFailed(setup.Pair, "could not record status: " + inner.Message);
        }
    }

    // Errors from an open connection do not say which end failed; the message names the pair instead.
    private Database Guess(Exception e) => e.Message.Contains(setup.Target.DbName, StringComparison.Ordinal) ? setup.Target : setup.Source;

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Pair {Pair} connected")]
    private partial void LogConnected(Pair pair);

    [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "Pair {Pair} applied {Rows} rows in {Chunks} chunks, {Millis:F1} ms")]
    private partial void LogApplied(Pair pair, long rows, int chunks, double millis);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Pair {Pair} failed: {Message}")]
    private partial void LogFailed(Pair pair, string message);
}
