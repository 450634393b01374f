using System.Globalization;
using Npgsql;

namespace Ferry.Local;

/// <summary>
/// A throwaway PostgreSQL server in a temporary folder, for <c>ferry demo</c> and the tests.
/// Tuned for speed, not durability (fsync off): never put data you care about in it.
/// </summary>
public sealed partial class LocalServer : IAsyncDisposable
{
    private const int PortAttempts = 5;
    private const string Superuser = "postgres";
    private static readonly TimeSpan DisposeBudget = TimeSpan.FromSeconds(60);

    private readonly string _binDirectory;
    private readonly string _rootDirectory;
    // PostgreSQL refuses to run as root, so when we are root every server program runs as the postgres user.
    private readonly bool _asPostgresUser;
    private int _disposed;

    private LocalServer(string name, string binDirectory, string rootDirectory, bool asPostgresUser)
    {
        Name = name;
        _binDirectory = binDirectory;
        _rootDirectory = rootDirectory;
        _asPostgresUser = asPostgresUser;
        DataDirectory = Path.Combine(rootDirectory, "data");
    }

    public string Name { get; }

    public int Port { get; private set; }

    public string Host => "127.0.0.1";

    public string DataDirectory { get; }

    private string LogFile => Path.Combine(DataDirectory, "server.log");

    /// <summary>Creates, configures and starts a new server on a free port of 127.0.0.1.</summary>
    public static async Task<LocalServer> StartAsync(string name, CancellationToken ct)
    {
        var binDirectory = PostgresBinaries.FindBinDirectory();
        var asPostgresUser = Environment.IsPrivilegedProcess;
        // As root, use /tmp rather than $TMPDIR: every folder above the data must be enterable by postgres.
        var tempRoot = asPostgresUser ? "/tmp" : Path.GetTempPath();
        var rootDirectory = Path.Combine(tempRoot, $"ferry-pg-{SafeName(name)}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(rootDirectory);

        var server = new LocalServer(name, binDirectory, rootDirectory, asPostgresUser);
        try
        {
            await server.ChownAsync(rootDirectory, ct);
            await server.InitDbAsync(ct);
            await server.WriteServerFileAsync(Path.Combine(server.DataDirectory, "pg_hba.conf"), HbaConf, ct);
            await File.AppendAllTextAsync(
                Path.Combine(server.DataDirectory, "postgresql.conf"), "\ninclude 'ferry.conf'\n", ct);
            await server.StartOnFreePortAsync(ct);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Superuser connection over TCP (trusted from 127.0.0.1).</summary>
    public string AdminConnectionString(string database = "postgres") =>
        new NpgsqlConnectionStringBuilder
        {
            Host = Host,
            Port = Port,
            Username = Superuser,
            Database = database,
            IncludeErrorDetail = true,
        }.ConnectionString;

    /// <summary>Runs SQL as superuser; several statements are allowed (they share one implicit transaction).</summary>
    public async Task ExecuteAsync(string database, string sql, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(AdminConnectionString(database));
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Runs a query as superuser and returns the first column of the first row (default for NULL or no row).</summary>
    public async Task<T?> ScalarAsync<T>(string database, string sql, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(AdminConnectionString(database));
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync(ct);
        if (value is null or DBNull)
        {
            return default;
        }

        if (value is T typed)
        {
            return typed;
        }

        var target = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
        return (T)Convert.ChangeType(value, target, CultureInfo.InvariantCulture);
    }

    public Task CreateDatabaseAsync(string database, string? owner, CancellationToken ct)
    {
        var sql = $"CREATE DATABASE {QuoteIdentifier(database)}";
        if (owner is not null)
        {
            sql += $" OWNER {QuoteIdentifier(owner)}";
        }

        return ExecuteAsync("postgres", sql, ct);
    }

    /// <summary>Stops the server cleanly (open sessions are disconnected); the data stays for <see cref="StartAgainAsync"/>.</summary>
    public async Task StopAsync(CancellationToken ct)
    {
        var result = await RunServerProgramAsync("pg_ctl", ["-D", DataDirectory, "-m", "fast", "-w", "-t", "60", "stop"], ct);
        // Pooled connections to the stopped server are dead; drop them so the next open reconnects.
        NpgsqlConnection.ClearAllPools();
        if (!result.Succeeded)
        {
            throw Failure($"Could not stop PostgreSQL server '{Name}'", result, logFrom: 0);
        }
    }

    /// <summary>Starts the server again after <see cref="StopAsync"/>, on the same port and data.</summary>
    public async Task StartAgainAsync(CancellationToken ct)
    {
        var logStart = LogLength();
        var result = await PgCtlStartAsync(ct);
        if (!result.Succeeded)
        {
            throw Failure($"Could not restart PostgreSQL server '{Name}' on port {Port}", result, logStart);
        }
    }

    /// <summary>Stops the server at once and deletes its folder. Never throws.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        using var budget = new CancellationTokenSource(DisposeBudget);
        try
        {
            if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
            {
                await RunServerProgramAsync(
                    "pg_ctl", ["-D", DataDirectory, "-m", "immediate", "-w", "-t", "30", "stop"], budget.Token);
            }
        }
#pragma warning disable CA1031 // Disposal must not throw; a server that will not stop is left for the OS.
        catch (Exception)
        {
        }

        try
        {
            NpgsqlConnection.ClearAllPools();
        }
        catch (Exception)
        {
        }

        try
        {
            if (Directory.Exists(_rootDirectory))
            {
                Directory.Delete(_rootDirectory, recursive: true);
            }
        }
        catch (Exception)
        {
        }
#pragma warning restore CA1031
    }

    public override string ToString() => $"{Name} ({Host}:{Port}, {DataDirectory})";

    internal static string QuoteIdentifier(string identifier) =>
        "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private async Task InitDbAsync(CancellationToken ct)
    {
        string[] common = ["-D", DataDirectory, "-U", Superuser, "--auth-local=trust", "-E", "UTF8", "--no-sync"];
        var result = await RunServerProgramAsync("initdb", [.. common, "--locale=C.UTF-8"], ct);
        if (result.Succeeded)
        {
            return;
        }

        // Some systems lack the C.UTF-8 locale; the plain C locale is fine for a throwaway server.
        if (Directory.Exists(DataDirectory))
        {
            Directory.Delete(DataDirectory, recursive: true);
        }

        var fallback = await RunServerProgramAsync("initdb", [.. common, "--no-locale"], ct);
        if (!fallback.Succeeded)
        {
            throw new InvalidOperationException(
                $"initdb failed for PostgreSQL server '{Name}'.\n{result.Describe()}\n{fallback.Describe()}");
        }
    }

    private async Task StartOnFreePortAsync(CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            Port = FreePort();
            await WriteServerFileAsync(Path.Combine(DataDirectory, "ferry.conf"), ServerConf(), ct);
            var logStart = LogLength();
            var result = await PgCtlStartAsync(ct);
            if (result.Succeeded)
            {
                return;
            }

            // The port was free when probed but another process may have taken it since.
            var log = LogTail(logStart);
            var collided = log.Contains("Address already in use", StringComparison.Ordinal)
                || log.Contains("could not create any TCP/IP sockets", StringComparison.Ordinal);
            if (!collided || attempt >= PortAttempts)
            {
                throw Failure($"Could not start PostgreSQL server '{Name}' on port {Port}", result, logStart);
            }
        }
    }

    private Task<ChildResult> PgCtlStartAsync(CancellationToken ct) =>
        RunServerProgramAsync("pg_ctl", ["-D", DataDirectory, "-l", LogFile, "-w", "-t", "60", "start"], ct);

    private Task<ChildResult> RunServerProgramAsync(string program, string[] arguments, CancellationToken ct)
    {
        var path = Path.Combine(_binDirectory, program);
        return _asPostgresUser
            ? ChildProcess.RunAsync(RunUser, ["-u", Superuser, "--", path, .. arguments], _rootDirectory, ct)
            : ChildProcess.RunAsync(path, arguments, _rootDirectory, ct);
    }

    // A service's or a cron job's PATH may lack the sbin folders, where Debian keeps runuser.
    private static string RunUser =>
        new[] { "/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser" }.FirstOrDefault(File.Exists) ?? "runuser";
}
