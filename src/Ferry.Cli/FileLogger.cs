using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary>
/// Appends the relay's log to <c>$FERRY_HOME/ferry.log</c>, one line per event (the file mode 0600, never opened through a link), flushed at once so the last line
/// before a crash is on disk. Messages never contain passwords: connection strings are never logged.
/// </summary>
public sealed class FileLoggerProvider(string path) : ILoggerProvider
{
    private readonly StreamWriter _writer = new(FerryHome.OpenAppend(path)) { AutoFlush = true };
    private readonly Lock _lock = new();

    public ILogger CreateLogger(string categoryName) => new FileLogger(this, categoryName);

    public void Dispose() => _writer.Dispose();

    private void Write(string line)
    {
        lock (_lock) _writer.WriteLine(line);
    }

    private sealed class FileLogger(FileLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            provider.Write($"{DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm:ss.fff}Z {logLevel,-11} {category}[{eventId.Id}] {formatter(state, exception)}" +
                           (exception is null ? "" : " " + exception.Message));
        }
    }
}
