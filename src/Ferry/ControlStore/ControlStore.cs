using System.Text.Json;
using Ferry.Resolve;
using Microsoft.Data.Sqlite;

namespace Ferry.ControlStore;

/// <summary>
/// The relay's embedded SQLite file: databases, dbgroups, herds, syncs, and what the relay last saw. No
/// replication state lives here (DESIGN invariant 7). The file is created mode 0600 because it may hold passwords.
/// </summary>
public sealed partial class Store : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly SemaphoreSlim _gate = new(1, 1);

    private Store(SqliteConnection connection, string path)
    {
        _connection = connection;
        Path = path;
    }

    public string Path { get; }

    public static bool Exists(string path) => File.Exists(path);

    /// <summary>Creates the store (mode 0600, in a folder of mode 0700) or opens the existing one.</summary>
    public static async Task<Store> CreateAsync(string path, CancellationToken ct)
    {
        var folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        if (!Directory.Exists(folder))
        {
            if (OperatingSystem.IsWindows()) Directory.CreateDirectory(folder);
            else Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        if (!File.Exists(path))
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            await using (new FileStream(path, options)) { }
        }
        var store = await OpenExistingAsync(path, ct);
        await store.MigrateAsync(ct);
        await store.ExecuteAsync("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1')", ct);
        return store;
    }

    /// <summary>Opens an existing store; says how to create one when there is none.</summary>
    public static async Task<Store> OpenAsync(string path, CancellationToken ct)
    {
        if (!File.Exists(path))
            throw new FerryException($"No ferry control store at {path}. Run 'ferry install' first " +
                                     "(set FERRY_HOME to use another folder).");
        var store = await OpenExistingAsync(path, ct);
        await store.MigrateAsync(ct);
        return store;
    }

    /// <summary>
    /// Brings a store made by any earlier ferry up to this one's tables, on every open: each step is idempotent
    /// (CREATE TABLE IF NOT EXISTS, a column added only when missing), so there is no version to compare.
    /// </summary>
    private async Task MigrateAsync(CancellationToken ct)
    {
        await ExecuteAsync(SqlResources.Read("control_001.sql"), ct);
        await UpgradeStatusAsync(ct);
        await ExecuteAsync(SqlResources.Read("control_002_sequences.sql"), ct);
        await ExecuteAsync(SqlResources.Read("control_003_copies.sql"), ct);
        await ExecuteAsync(SqlResources.Read("control_004_holds.sql"), ct);
        await ExecuteAsync(SqlResources.Read("control_005_lag.sql"), ct);
        await ExecuteAsync(SqlResources.Read("control_006_copy_progress.sql"), ct);
    }

    private static async Task<Store> OpenExistingAsync(string path, CancellationToken ct)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString());
        await connection.OpenAsync(ct);
        var store = new Store(connection, path);
        // WAL lets `ferry status` read while the relay writes; busy_timeout waits out the other writer. NORMAL
        // syncs at checkpoints only: a power cut may lose the last status lines, never replication state (there is none).
        await store.ExecuteAsync("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;", ct);
        return store;
    }

    public void Dispose()
    {
        _connection.Dispose();
        _gate.Dispose();
    }

    internal async Task ExecuteAsync(string sql, CancellationToken ct, params (string Name, object? Value)[] args)
    {
        await _gate.WaitAsync(ct);
        try
        {
            await using var command = Command(sql, args);
            await command.ExecuteNonQueryAsync(ct);
        }
        finally
        {
            _gate.Release();
        }
    }

    internal async Task<List<T>> QueryAsync<T>(string sql, Func<SqliteDataReader, T> map, CancellationToken ct,
        params (string Name, object? Value)[] args)
    {
        await _gate.WaitAsync(ct);
        try
        {
            await using var command = Command(sql, args);
            await using var reader = await command.ExecuteReaderAsync(ct);
            var rows = new List<T>();
            while (await reader.ReadAsync(ct)) rows.Add(map(reader));
            return rows;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Runs several statements as one SQLite transaction: a configuration change lands whole or not at all.</summary>
    internal async Task InTransactionAsync(Func<SqliteTransaction, Task> work, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            await using var tx = (SqliteTransaction)await _connection.BeginTransactionAsync(ct);
            await work(tx);
            await tx.CommitAsync(ct);
        }
        finally
        {
            _gate.Release();
        }
    }

    internal SqliteCommand Command(string sql, params (string Name, object? Value)[] args)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in args) command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    internal static string Now() => DateTimeOffset.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture);

    internal static string ToJson(IReadOnlyDictionary<string, string> settings) => JsonSerializer.Serialize(settings);

    internal static Dictionary<string, string> FromJson(string json) =>
        JsonSerializer.Deserialize<Dictionary<string, string>>(json) ?? [];

    internal static ConflictRule Rule(string text) => ConflictRules.Parse(text);
}
