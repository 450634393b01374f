using System.Text;

namespace Ferry.Local;

// Configuration files, ownership, ports and the server log.
public sealed partial class LocalServer
{
    private const string HbaConf = """
        # Written by Ferry's LocalServer: the superuser is trusted, every other role needs its password.
        local   all   all                    trust
        host    all   postgres  127.0.0.1/32 trust
        host    all   all       127.0.0.1/32 scram-sha-256
        """;

    private string ServerConf() => $"""
        # Written by Ferry's LocalServer: a throwaway server, fast rather than durable.
        listen_addresses = '127.0.0.1'
        port = {Port}
        unix_socket_directories = '{DataDirectory.Replace("'", "''", StringComparison.Ordinal)}'
        fsync = off
        synchronous_commit = off
        full_page_writes = off
        # Tests share three servers across many classes, each with its relay, CLI and pooled test connections.
        max_connections = 300
        shared_buffers = 128MB
        # WAL capture (capture=wal) reads logical slots; trigger capture ignores these.
        wal_level = logical
        max_replication_slots = 40
        max_wal_senders = 40
        # An odd time zone (UTC+12:45/+13:45) on purpose, so that time zone bugs show.
        timezone = 'Pacific/Chatham'
        logging_collector = off
        log_line_prefix = '%m [%p] %q%u@%d '

        """;

    private async Task WriteServerFileAsync(string path, string content, CancellationToken ct)
    {
        await File.WriteAllTextAsync(path, content, ct);
        await ChownAsync(path, ct);
    }

    private async Task ChownAsync(string path, CancellationToken ct)
    {
        if (!_asPostgresUser)
        {
            return;
        }

        var result = await ChildProcess.RunAsync("chown", ["-R", $"{Superuser}:{Superuser}", path], null, ct);
        if (!result.Succeeded)
        {
            throw new InvalidOperationException(
                $"Could not hand {path} to the '{Superuser}' OS user, which PostgreSQL needs when run by root " +
                $"({PostgresBinaries.InstallHint} creates that user).\n{result.Describe()}");
        }
    }

    private InvalidOperationException Failure(string what, ChildResult result, long logFrom) =>
        new($"{what}.\n{result.Describe()}\n--- server log ({LogFile}) ---\n{LogTail(logFrom)}");

    private long LogLength()
    {
        try
        {
            return File.Exists(LogFile) ? new FileInfo(LogFile).Length : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>The end of the server log written since <paramref name="from"/>, at most a few kilobytes.</summary>
    private string LogTail(long from)
    {
        const int maxBytes = 6000;
        try
        {
            using var stream = new FileStream(LogFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var start = Math.Max(from, stream.Length - maxBytes);
            if (start >= stream.Length)
            {
                return "(nothing new in the log)";
            }

            stream.Seek(start, SeekOrigin.Begin);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            return reader.ReadToEnd().TrimEnd();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"(log unavailable: {e.Message})";
        }
    }

    private static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }

    private static string SafeName(string name)
    {
        var safe = new string(name.Select(c => char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '-').ToArray());
        return safe.Length > 20 ? safe[..20] : safe;
    }
}
