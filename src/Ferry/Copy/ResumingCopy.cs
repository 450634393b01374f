using System.Diagnostics;
using Ferry.Postgres;
using Ferry.Relay;
using Npgsql;

namespace Ferry.Copy;

/// <summary>
/// A one-time copy that rides out the link: each attempt resumes from the cursor the last one committed
/// (<see cref="OneTimeCopy"/>), so a reset or a stall costs the slice in flight and a wait, not the copy.
/// </summary>
public static class ResumingCopy
{
    /// <summary>
    /// The copy, resumed after every failure of a link (a reset, a timeout, a database away for a while) until it is
    /// done or <see cref="Defaults.CopyAttempts"/> attempts have failed; each interruption is told to
    /// <paramref name="interrupted"/>. Any other error (a right missing, a row the target refuses) ends it at once.
    /// </summary>
    public static async Task<List<string>> RunAsync(Database source, Database target, string sync, IReadOnlyList<TableName> tables,
        bool targetKeepsVersions, bool replace, IReadOnlyCollection<string> restartFrom, Action<string> interrupted, CancellationToken ct,
        IProgress<TableProgress>? progress = null, bool keepPosition = false)
    {
        // A first wait of a quarter second: an attempt costs a second or more of round trips before its first slice
        // commits on a long link, and a link that resets every few seconds leaves windows not much longer than that.
        var backoff = new Backoff(TimeSpan.FromMilliseconds(250), Defaults.MaxBackoff);
        for (var attempt = 1; ; attempt++)
        {
            var clock = Stopwatch.StartNew();
            try
            {
                return await OneTimeCopy.CopyAsync(source, target, sync, tables, targetKeepsVersions, replace, restartFrom, ct, progress, keepPosition);
            }
            catch (Exception e) when (attempt < Defaults.CopyAttempts && IsLinkFailure(e) && !ct.IsCancellationRequested)
            {
                // An attempt the link carried for a while was cut by a reset, after which the link is up again: a longer
                // wait would only eat the next window. Backing off is for a link that fails at once (refused, down).
                if (clock.Elapsed >= CarriedFor) backoff.Reset();
                var wait = backoff.Next();
                interrupted($"The copy into {target.Name} was interrupted ({Innermost(e).Message.TrimEnd('.')}); it resumes " +
                            $"after its last committed slice in {wait.TotalSeconds:F1} s (attempt {attempt + 1} of {Defaults.CopyAttempts}).");
                await Task.Delay(wait, ct);
            }
        }
    }

    private static readonly TimeSpan CarriedFor = TimeSpan.FromSeconds(1);

    // A link failure, or a server error that passes by itself (a lock, a serialization failure): decided in one place.
    private static bool IsLinkFailure(Exception e) => PgErrors.IsTransient(e);

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }
}
