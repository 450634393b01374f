using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary>
/// What SIGHUP does: the log file is closed and opened again by name, so that after logrotate renames it the relay
/// writes a new one instead of the renamed file growing forever. A detached relay's stderr (its last words, a crash)
/// was appended to the log by the shell that started it; it is pointed at the new file too.
/// </summary>
public static partial class LogReopen
{
    public static void Reopen(FileLoggerProvider file, bool detached, ILogger logger)
    {
        try
        {
            file.Reopen();
            if (detached)
            {
                using var log = FerryHome.OpenAppend(Defaults.LogPath);
                // dup2 onto fd 2: the stream can close its own descriptor, the copy stays stderr.
                if (Dup2((int)log.SafeFileHandle.DangerousGetHandle(), 2) < 0)
                    LogFailed(logger, $"stderr still goes to the old file (errno {Marshal.GetLastPInvokeError()})");
            }
            LogReopened(logger, Defaults.LogPath);
            SystemdNotify.Reloaded();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FerryException)
        {
            // The old file stays open: losing the log is worse than a file logrotate could not rotate.
            LogFailed(logger, e.Message);
        }
    }

    [DllImport("libc", EntryPoint = "dup2", SetLastError = true)]
    private static extern int Dup2(int oldFd, int newFd);

    [LoggerMessage(EventId = 40, Level = LogLevel.Information, Message = "SIGHUP: log file {Path} reopened")]
    private static partial void LogReopened(ILogger logger, string path);

    [LoggerMessage(EventId = 41, Level = LogLevel.Warning, Message = "SIGHUP: could not reopen the log file: {Why}; still writing to the old one")]
    private static partial void LogFailed(ILogger logger, string why);
}
