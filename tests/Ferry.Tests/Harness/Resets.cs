using Ferry.Local;

namespace Ferry.Tests.Harness;

/// <summary>Link faults on a schedule, for tests of work that must ride them out.</summary>
public static class Resets
{
    /// <summary>Resets every connection through the links every 1.5 to 2.5 s until cancelled; returns how many rounds it did.</summary>
    public static Task<int> EveryTwoSecondsAsync(FaultProxy[] links, CancellationToken ct) =>
        EveryAsync(links, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(2.5), ct);

    /// <summary>Resets every connection through the links every <paramref name="least"/> to <paramref name="most"/>.</summary>
    public static async Task<int> EveryAsync(FaultProxy[] links, TimeSpan least, TimeSpan most, CancellationToken ct)
    {
        var rounds = 0;
        try
        {
            while (true)
            {
                await Task.Delay(least + (most - least) * Random.Shared.NextDouble(), ct);
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
