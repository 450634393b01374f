using System.Data.Common;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ferry.Resolve;

namespace Ferry.ControlStore;

/// <summary>
/// The relay's store: databases, dbgroups, herds, syncs, and what the relay last saw. No replication state lives here
/// (DESIGN invariant 7). An embedded SQLite file by default (mode 0600: it may hold passwords), or a schema in a
/// PostgreSQL database that several relay hosts share (<see cref="StoreAddress"/>). Both speak ADO.NET's base types;
/// what differs (connections, DDL types, retries) is the backend's. SQL here is written for both: named parameters,
/// <c>ON CONFLICT</c>, TEXT timestamps.
/// </summary>
public sealed partial class Store : IDisposable
{
    private readonly StoreBackend _backend;

    private Store(StoreBackend backend, StoreAddress address)
    {
        _backend = backend;
        Address = address;
    }

    public StoreAddress Address { get; }

    /// <summary>Where the store is, for messages.</summary>
    public string Path => Address.Describe();

    public static bool Exists(string path) => File.Exists(path);

    /// <summary>Creates the home's store (or the one at <paramref name="path"/>), or opens the existing one.</summary>
    public static Task<Store> CreateAsync(string path, CancellationToken ct) => CreateAsync(StoreAddress.For(path), ct);

    /// <summary>Creates the store (a SQLite file mode 0600; a PostgreSQL schema only its role may use) or opens it.</summary>
    public static async Task<Store> CreateAsync(StoreAddress address, CancellationToken ct)
    {
        StoreBackend backend = address.IsPostgres
            ? await PostgresBackend.CreateAsync(address, ct)
            : await SqliteBackend.CreateAsync(address.File!, ct);
        return await MigratedAsync(backend, address, create: true, ct);
    }

    public static Task<Store> OpenAsync(string path, CancellationToken ct) => OpenAsync(StoreAddress.For(path), ct);

    public static async Task<Store> OpenAsync(StoreAddress address, CancellationToken ct)
    {
        StoreBackend backend = address.IsPostgres
            ? await PostgresBackend.OpenAsync(address, ct)
            : await SqliteBackend.OpenAsync(address.File!, ct);
        return await MigratedAsync(backend, address, create: false, ct);
    }

    /// <summary>Brings the store's tables to this version; a store that cannot be migrated is closed, not leaked.</summary>
    private static async Task<Store> MigratedAsync(StoreBackend backend, StoreAddress address, bool create, CancellationToken ct)
    {
        var store = new Store(backend, address);
        try
        {
            await backend.MigrateAsync(Migrations(), AddedColumns, create, ct);
            if (create)
                await store.ExecuteAsync("INSERT INTO meta (key, value) VALUES ('schema_version', '1') ON CONFLICT DO NOTHING", ct);
            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Every <c>Sql/control_NNN_*.sql</c>, in order: run on every open, each idempotent (CREATE TABLE IF NOT EXISTS), so a
    /// store made by any earlier ferry gains the new tables and there is no version to compare. A new file runs by
    /// itself; it must be valid in both SQLite and PostgreSQL with the types TEXT, INTEGER and REAL (INTEGER PRIMARY KEY
    /// for a row id), which the PostgreSQL backend widens (bigint, double precision, identity).
    /// </summary>
    private static List<(string Name, string Sql)> Migrations() =>
        typeof(Store).Assembly.GetManifestResourceNames()
            .Select(n => n["Ferry.Sql.".Length..])
            .Where(n => MigrationName().IsMatch(n))
            .Order(StringComparer.Ordinal)
            .Select(n => (n, SqlResources.Read(n)))
            .ToList();

    /// <summary>Columns added to a table after its file was first shipped: (table, column, SQLite type).</summary>
    private static readonly (string Table, string Column, string Type)[] AddedColumns =
    [
        ("run_history", "round_trips_per_chunk", "REAL"),
    ];

    public void Dispose() => _backend.Dispose();

    private long _calls;

    /// <summary>
    /// Statements and transactions sent to the store so far, each one connection taken from the pool: what a reader
    /// that runs on every heartbeat must keep independent of the number of syncs (tests count it).
    /// </summary>
    internal long Calls => Interlocked.Read(ref _calls);

    internal Task ExecuteAsync(string sql, CancellationToken ct, params (string Name, object? Value)[] args) =>
        Counted(_backend.WithConnectionAsync(async c =>
        {
            await using var command = Command(c, null, sql, args);
            return await command.ExecuteNonQueryAsync(ct);
        }, ct));

    internal Task<List<T>> QueryAsync<T>(string sql, Func<DbDataReader, T> map, CancellationToken ct,
        params (string Name, object? Value)[] args) =>
        Counted(_backend.WithConnectionAsync(async c =>
        {
            await using var command = Command(c, null, sql, args);
            await using var reader = await command.ExecuteReaderAsync(ct);
            var rows = new List<T>();
            while (await reader.ReadAsync(ct)) rows.Add(map(reader));
            return rows;
        }, ct));

    private Task<T> Counted<T>(Task<T> call)
    {
        Interlocked.Increment(ref _calls);
        return call;
    }

    /// <summary>
    /// Runs several statements as one transaction: a configuration change lands whole or not at all. On PostgreSQL the
    /// transaction is SERIALIZABLE, as SQLite's one writer at a time is, and runs again from the start when another
    /// relay's commit conflicts with it (or the link drops): <paramref name="work"/> must set, not add to, what it
    /// tells its caller.
    /// </summary>
    internal Task InTransactionAsync(Func<DbTransaction, Task> work, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        return _backend.InTransactionAsync(work, ct);
    }

    internal DbCommand Command(DbTransaction tx, string sql, params (string Name, object? Value)[] args) =>
        Command(tx.Connection!, tx, sql, args);

    private DbCommand Command(DbConnection connection, DbTransaction? tx, string sql, (string Name, object? Value)[] args)
    {
        var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = _backend.Sql(sql);
        foreach (var (name, value) in args)
        {
            var p = command.CreateParameter();
            p.ParameterName = _backend.ParameterName(name);
            p.Value = value ?? DBNull.Value;
            command.Parameters.Add(p);
        }
        return command;
    }

    internal static string Now() => DateTimeOffset.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture);

    internal static string ToJson(IReadOnlyDictionary<string, string> settings) => JsonSerializer.Serialize(settings);

    internal static Dictionary<string, string> FromJson(string json) =>
        JsonSerializer.Deserialize<Dictionary<string, string>>(json) ?? [];

    internal static ConflictRule Rule(string text) => ConflictRules.Parse(text);

    [GeneratedRegex(@"^control_\d{3}(_[^.]*)?\.sql$")]
    private static partial Regex MigrationName();
}
