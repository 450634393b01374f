using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Ferry.ControlStore;

/// <summary>
/// The embedded store: one connection to a file created mode 0600 (in a folder of mode 0700), used by one statement at
/// a time (a gate: a SqliteConnection is not thread-safe, and the relay's pairs share it).
/// </summary>
internal sealed class SqliteBackend : StoreBackend
{
    private readonly SqliteConnection _connection;
    private readonly SemaphoreSlim _gate = new(1, 1);

    private SqliteBackend(SqliteConnection connection) => _connection = connection;

    public static async Task<SqliteBackend> CreateAsync(string path, CancellationToken ct)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
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
        return await OpenExistingAsync(path, ct);
    }

    public static Task<SqliteBackend> OpenAsync(string path, CancellationToken ct)
    {
        if (!File.Exists(path))
            throw new FerryException($"No ferry control store at {path}. Run 'ferry install' first " +
                                     "(set FERRY_HOME to use another folder).");
        return OpenExistingAsync(path, ct);
    }

    private static async Task<SqliteBackend> OpenExistingAsync(string path, CancellationToken ct)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString());
        await connection.OpenAsync(ct);
        var backend = new SqliteBackend(connection);
        // WAL lets `ferry status` read while the relay writes; busy_timeout waits out the other writer. NORMAL
        // syncs at checkpoints only: a power cut may lose the last status lines, never replication state (there is none).
        await using var pragmas = connection.CreateCommand();
        pragmas.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;";
        await pragmas.ExecuteNonQueryAsync(ct);
        return backend;
    }

    public override async Task<T> WithConnectionAsync<T>(Func<DbConnection, Task<T>> work, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            return await work(_connection);
        }
        finally
        {
            _gate.Release();
        }
    }

    public override async Task InTransactionAsync(Func<DbTransaction, Task> work, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            await using var tx = await _connection.BeginTransactionAsync(ct);
            await work(tx);
            await tx.CommitAsync(ct);
        }
        finally
        {
            _gate.Release();
        }
    }

    public override async Task MigrateAsync(IReadOnlyList<(string Name, string Sql)> files,
        IReadOnlyList<(string Table, string Column, string Type)> addedColumns, bool create, CancellationToken ct)
    {
        foreach (var (_, sql) in files) await ExecuteAsync(sql, ct);
        foreach (var (table, column, type) in addedColumns)
        {
            var columns = new List<string>();
            await WithConnectionAsync(async c =>
            {
                await using var query = c.CreateCommand();
                query.CommandText = "SELECT name FROM pragma_table_info($t)";
                query.Parameters.Add(new SqliteParameter("$t", table));
                await using var r = await query.ExecuteReaderAsync(ct);
                while (await r.ReadAsync(ct)) columns.Add(r.GetString(0));
                return 0;
            }, ct);
            if (columns.Contains(column)) continue;
            try
            {
                // Names from the list above, never from input.
                await ExecuteAsync($"ALTER TABLE {table} ADD COLUMN {column} {type}", ct);
            }
            catch (SqliteException e) when (e.Message.Contains("duplicate column", StringComparison.Ordinal))
            {
                // Another process (the relay, `ferry status`) added it at the same moment.
            }
        }
    }

    private Task ExecuteAsync(string sql, CancellationToken ct) =>
        WithConnectionAsync(async c =>
        {
            await using var command = c.CreateCommand();
            command.CommandText = sql;
            return await command.ExecuteNonQueryAsync(ct);
        }, ct);

    public override string ClockSql => "SELECT (julianday('now') - 2440587.5) * 86400.0";

    public override void Dispose()
    {
        _connection.Dispose();
        _gate.Dispose();
    }
}
