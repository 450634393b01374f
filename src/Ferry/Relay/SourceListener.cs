using Ferry.Postgres;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ferry.Relay;

/// <summary>
/// One LISTEN connection per source database, ringing the wakeups of the pairs that read from it. It only makes
/// replication prompt: pairs poll anyway, so a lost notification or a dead listener delays, never loses.
/// </summary>
public sealed partial class SourceListener(Database source, IReadOnlyList<Wakeup> wakeups, ILogger logger)
{
    public async Task RunAsync(CancellationToken ct)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(500), Defaults.MaxBackoff);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var c = await Connect.OpenAsync(source, ct, "ferry listen", deadLinkBound: true);
                c.Notification += (_, _) => RingAll();
                await using (var listen = new NpgsqlCommand("LISTEN " + Quote.Ident(Defaults.Channel), c))
                    await listen.ExecuteNonQueryAsync(ct);
                RingAll(); // anything committed while we were not listening
                backoff.Reset();
                while (!ct.IsCancellationRequested)
                {
                    if (!await c.WaitAsync(Defaults.DeadLinkTimeout / 3, ct))
                    {
                        // Silence: make sure the link is alive, or fail within the dead-link bound.
                        await using var ping = new NpgsqlCommand("SELECT 1", c) { CommandTimeout = Connect.DeadLinkCommandSeconds };
                        await ping.ExecuteScalarAsync(ct);
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogLost(source.Name, e.Message);
                try
                {
                    await Task.Delay(backoff.Next(), ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private void RingAll()
    {
        foreach (var w in wakeups) w.Ring();
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Debug, Message = "Listener on {Database} lost: {Message}")]
    private partial void LogLost(string database, string message);
}
