using System.Threading.Channels;

namespace Ferry.Relay;

/// <summary>
/// A pair's doorbell: rung by NOTIFY from its source and by `ferry kick`; waiting on it also times out at the poll
/// interval, because notifications are lost whenever the listening link drops. Rings coalesce.
/// </summary>
public sealed class Wakeup
{
    private readonly Channel<bool> _bell = Bell();

    // Only kicks: a pair whose last attempt failed waits on this, so that a doorbell rung by writes on its source
    // does not turn its backoff into a retry per write.
    private readonly Channel<bool> _kick = Bell();

    private static Channel<bool> Bell() => Channel.CreateBounded<bool>(new BoundedChannelOptions(1)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
    });

    public void Ring() => _bell.Writer.TryWrite(true);

    /// <summary>`ferry kick`, and `ferry copy` once it is done: rings, and ends a failed pair's wait for its next attempt.</summary>
    public void Kick()
    {
        Interlocked.Exchange(ref _kicked, 1);
        Ring();
        _kick.Writer.TryWrite(true);
    }

    private int _kicked;

    /// <summary>Whether a kick came since the last call: tables held for an error are then tried again at once.</summary>
    public bool TakeKick() => Interlocked.Exchange(ref _kicked, 0) == 1;

    /// <summary>Raised when the pair starts to wait: it has read all there was (the listener arms the doorbell).</summary>
    public event Action? Waiting;

    /// <summary>Waits for a ring or the timeout, whichever comes first.</summary>
    public async Task WaitAsync(TimeSpan timeout, CancellationToken ct)
    {
        Waiting?.Invoke();
        await WaitOnAsync(_bell, timeout, ct);
        // A kick this wait answered is not one for a later failure's backoff.
        _kick.Reader.TryRead(out _);
    }

    /// <summary>A failed pair's wait before it tries again: ended early by a kick only.</summary>
    public Task WaitForKickAsync(TimeSpan timeout, CancellationToken ct) => WaitOnAsync(_kick, timeout, ct);

    private static async Task WaitOnAsync(Channel<bool> bell, TimeSpan timeout, CancellationToken ct)
    {
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timer.CancelAfter(timeout);
        try
        {
            await bell.Reader.WaitToReadAsync(timer.Token);
            bell.Reader.TryRead(out _);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
        }
    }
}
