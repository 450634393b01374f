using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary>
/// What SIGHUP does to a running relay: logrotate sends it after moving ferry.log away, and `systemctl reload ferry`
/// (the unit's ExecReload) to have the configuration read again. It does both: the log is reopened at once
/// (<see cref="LogReopen"/>), and the relay reloads its pairs (<see cref="Relay.Relay.ReloadAsync"/>), which leaves
/// every pair running when nothing changed.
/// </summary>
public static partial class HangUp
{
    public static void Handle(FileLoggerProvider logFile, bool detached, Relay.Relay relay, ILogger logger, CancellationToken ct)
    {
        LogReopen.Reopen(logFile, detached, logger);
        _ = ReloadAsync(relay, logger, ct);
    }

    private static async Task ReloadAsync(Relay.Relay relay, ILogger logger, CancellationToken ct)
    {
        try
        {
            // The relay logs what the reload changed.
            await relay.ReloadAsync(ct);
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e)
        {
            // A signal has no one to answer: the log says it, and the pairs run as before.
            LogFailed(logger, e.Message);
        }
    }

    [LoggerMessage(EventId = 42, Level = LogLevel.Warning, Message = "SIGHUP: the configuration was not reloaded: {Why}; the pairs run as before. Try again: ferry reload")]
    private static partial void LogFailed(ILogger logger, string why);
}
