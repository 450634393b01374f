namespace Ferry.Relay;

/// <summary>
/// A pair the relay runs: its worker, the configuration it was built from (<see cref="RelayPlan.Definition(PairSetup)"/>),
/// and two tokens of its own, so a reload can stop it without touching the others: one ends it at its next wait or
/// between batches (the batch in flight commits), the other, after a grace period, abandons that batch too.
/// </summary>
public sealed class RunningPair
{
    private readonly CancellationTokenSource _stop;
    private readonly CancellationTokenSource _abort;
    private readonly Task _task;

    private RunningPair(PairWorker worker, string definition, long order, CancellationTokenSource stop, CancellationTokenSource abort)
    {
        Worker = worker;
        Definition = definition;
        Order = order;
        _stop = stop;
        _abort = abort;
        _task = Task.Run(() => worker.RunAsync(stop.Token, abort.Token), CancellationToken.None);
    }

    public PairWorker Worker { get; }

    public string Definition { get; }

    /// <summary>When it started, relative to the others: the endpoint lists pairs in this order.</summary>
    public long Order { get; }

    public static RunningPair Start(PairWorker worker, string definition, long order, CancellationToken relayStopping) =>
        new(worker, definition, order, CancellationTokenSource.CreateLinkedTokenSource(relayStopping),
            CancellationTokenSource.CreateLinkedTokenSource(relayStopping));

    /// <summary>
    /// Stops the pair and waits until it has: within <paramref name="grace"/> its batch in flight may commit; after
    /// it, the batch is abandoned (PostgreSQL rolls back the open chunk; its cursor and progress are untouched).
    /// </summary>
    public async Task StopAsync(TimeSpan grace)
    {
        await _stop.CancelAsync();
        if (grace > TimeSpan.Zero) await Task.WhenAny(_task, Task.Delay(grace));
        await _abort.CancelAsync();
        try
        {
            await _task;
        }
        catch (Exception)
        {
            // Cancelled, or a failure the worker has recorded in the status already: either way it runs no more.
        }
        _stop.Dispose();
        _abort.Dispose();
    }
}
