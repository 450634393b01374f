using System.Threading.Channels;

namespace Ferry.Relay;

/// <summary>
/// A pair's doorbell: rung by NOTIFY from its source and by `ferry kick`; waiting on it also times out at the poll
/// interval, because notifications are lost whenever the listening link drops. Rings coalesce.
/// </summary>
public sealed class Wakeup
{
    private readonly Channel<bool> _bell = Channel.CreateBounded<bool>(new BoundedChannelOptions(1)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
    });

    public void Ring() => _bell.Writer.TryWrite(true);

    /// <summary>Raised when the pair starts to wait: it has read all there was (the listener arms the doorbell).</summary>
    public event Action? Waiting;

    /// <summary>Waits for a ring or the timeout, whichever comes first.</summary>
    public async Task WaitAsync(TimeSpan timeout, CancellationToken ct)
    {
        Waiting?.Invoke();
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timer.CancelAfter(timeout);
        try
        {
            await _bell.Reader.WaitToReadAsync(timer.Token);
            _bell.Reader.TryRead(out _);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
        }
    }
}
