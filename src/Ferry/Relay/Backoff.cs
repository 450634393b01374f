namespace Ferry.Relay;

/// <summary>
/// Exponential backoff with full jitter, capped: a failed pair retries soon, then less often, and pairs that failed
/// together do not retry in lock step against a database that is coming back.
/// </summary>
public sealed class Backoff(TimeSpan first, TimeSpan cap)
{
    private int _failures;

    public TimeSpan Next()
    {
        var exp = Math.Min(cap.TotalMilliseconds, first.TotalMilliseconds * Math.Pow(2, Math.Min(_failures++, 20)));
        return TimeSpan.FromMilliseconds(exp / 2 + Random.Shared.NextDouble() * exp / 2);
    }

    public void Reset() => _failures = 0;

    public int Failures => _failures;
}
