using System.Diagnostics;

namespace Ferry.Tests.Harness;

/// <summary>
/// Waits for an asynchronous outcome (replication, a relay noticing a link) by polling against a deadline,
/// so tests neither sleep a fixed time nor hang forever.
/// </summary>
public static class Eventually
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        await UntilAsync(condition, ok => ok, timeout, what);
    }

    /// <summary>Polls <paramref name="observe"/> until <paramref name="accept"/> holds; returns the accepted value.</summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T>> observe, Func<T, bool> accept, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        var last = default(T);
        Exception? lastError = null;
        var observed = false;
        while (true)
        {
            try
            {
                last = await observe();
                observed = true;
                lastError = null;
                if (accept(last))
                {
                    return last;
                }
            }
#pragma warning disable CA1031 // A server that is still coming up may throw; keep polling and report it at the deadline.
            catch (Exception e)
#pragma warning restore CA1031
            {
                lastError = e;
            }

            if (clock.Elapsed >= timeout)
            {
                var lastSeen = observed ? $"last observed value: {Describe(last)}" : "no value was ever observed";
                throw new TimeoutException(
                    $"Timed out after {timeout.TotalSeconds:0.##} s waiting for {what}; {lastSeen}" +
                    (lastError is null ? "." : $"; last attempt failed: {lastError.GetType().Name}: {lastError.Message}"),
                    lastError);
            }

            await Task.Delay(PollInterval);
        }
    }

    private static string Describe<T>(T value) => value switch
    {
        null => "null",
        string s => $"\"{s}\"",
        System.Collections.IEnumerable items => "[" + string.Join(", ", items.Cast<object?>().Select(i => i?.ToString() ?? "null")) + "]",
        _ => value.ToString() ?? "null",
    };
}
