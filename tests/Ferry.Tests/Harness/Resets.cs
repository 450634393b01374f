using Ferry.Local;

namespace Ferry.Tests.Harness;

/// <summary>Link faults on a schedule, for tests of work that must ride them out.</summary>
public static class Resets
{
    /// <summary>Resets every connection through the links every 1.5 to 2.5 s until cancelled; returns how many rounds it did.</summary>
    public static async Task<int> EveryTwoSecondsAsync(FaultProxy[] links, CancellationToken ct)
    {
        var rounds = 0;
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(1500 + Random.Shared.Next(1000)), ct);
                foreach (var link in links) link.ResetAll();
                rounds++;
            }
        }
        catch (OperationCanceledException)
        {
            return rounds;
        }
    }
}
