using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli;

/// <summary>
/// Appends the relay's log to <c>$FERRY_HOME/ferry.log</c>, one line per event (the file mode 0600, never opened through a link), flushed at once so the last line
/// before a crash is on disk. Messages never contain passwords: connection strings are never logged. On SIGHUP the relay calls
/// <see cref="Reopen"/>, so logrotate can move the file away and the next line starts a new one.
/// </summary>
public sealed class FileLoggerProvider(Func<StreamWriter> open, bool json) : ILoggerProvider
{
    private StreamWriter _writer = open();

    public FileLoggerProvider(string path, bool json) : this(() => new StreamWriter(FerryHome.OpenAppend(path)) { AutoFlush = true }, json) { }

    /// <summary>JSON lines on stdout, the same objects as in the file, for a collector reading the journal or the container.</summary>
    public static FileLoggerProvider JsonStdout() =>
        new(() => new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = true }, json: true);
    private readonly Lock _lock = new();

    private bool Json => json;

    public ILogger CreateLogger(string categoryName) => new FileLogger(this, categoryName);

    public void Dispose()
    {
        lock (_lock) _writer.Dispose();
    }

    /// <summary>Closes the file and opens the path again: a new file if the old one was renamed.</summary>
    public void Reopen()
    {
        var next = open();
        StreamWriter old;
        lock (_lock) (old, _writer) = (_writer, next);
        old.Dispose();
    }

    private void Write(string line)
    {
        lock (_lock) _writer.WriteLine(line);
    }

    /// <summary>One log line as text or as one JSON object, the same for the file and for stdout.</summary>
    public static string Format(bool json, LogLevel level, string category, EventId eventId, string message, Exception? exception)
    {
        var time = DateTimeOffset.UtcNow;
        if (!json)
            return $"{time:yyyy-MM-dd HH:mm:ss.fff}Z {level,-11} {category}[{eventId.Id}] {message}" +
                   (exception is null ? "" : " " + exception.Message);
        return JsonSerializer.Serialize(new LogLine(time, level.ToString(), category, eventId.Id, message, exception?.Message),
            LogLineJson.Default.LogLine);
    }

    private sealed class FileLogger(FileLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            provider.Write(Format(provider.Json, logLevel, category, eventId, formatter(state, exception), exception));
        }
    }
}

public sealed record LogLine(DateTimeOffset Time, string Level, string Category, int EventId, string Message, string? Error);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
[System.Text.Json.Serialization.JsonSerializable(typeof(LogLine))]
internal sealed partial class LogLineJson : System.Text.Json.Serialization.JsonSerializerContext;
