using System.Data;
using System.Data.Common;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Ferry.Postgres;
using Npgsql;

namespace Ferry.ControlStore;

/// <summary>
/// The store as a schema in a PostgreSQL database, which relays on several hosts may share. Connections come from a
/// pool, each pinned to <c>search_path = schema, pg_catalog</c> with the same link defences as every other ferry
/// connection (<see cref="Connect.Builder"/>); a statement or transaction that fails on the link, or on another
/// writer's conflicting commit, runs again a few times over a few seconds.
/// </summary>
internal sealed partial class PostgresBackend : StoreBackend
{
    private const int Attempts = 6;
    private readonly NpgsqlDataSource _source;
    private readonly StoreAddress _address;

    private PostgresBackend(StoreAddress address)
    {
        _address = address;
        var b = Connect.Builder(address.Server!, "ferry store");
        b.Pooling = true;
        b.MaxPoolSize = 10;
        b.SearchPath = Quote.Ident(address.Schema) + ", pg_catalog";
        _source = NpgsqlDataSource.Create(b.ConnectionString);
    }

    internal string Schema => _address.Schema;

    public static Task<PostgresBackend> CreateAsync(StoreAddress address, CancellationToken ct) => Task.FromResult(new PostgresBackend(address));

    public static Task<PostgresBackend> OpenAsync(StoreAddress address, CancellationToken ct) => Task.FromResult(new PostgresBackend(address));

    public override Task<T> WithConnectionAsync<T>(Func<DbConnection, Task<T>> work, CancellationToken ct) =>
        RetryAsync(async () =>
        {
            await using var c = await OpenConnectionAsync(ct);
            return await work(c);
        }, ct);

    public override Task InTransactionAsync(Func<DbTransaction, Task> work, CancellationToken ct) =>
        RetryAsync(async () =>
        {
            await using var c = await OpenConnectionAsync(ct);
            await using var tx = await c.BeginTransactionAsync(IsolationLevel.Serializable, ct);
            await work(tx);
            await tx.CommitAsync(ct);
            return 0;
        }, ct);

    internal async Task<NpgsqlConnection> OpenConnectionAsync(CancellationToken ct)
    {
        try
        {
            return await _source.OpenConnectionAsync(ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            throw new FerryException($"Cannot open the control store: {PgErrors.Explain(_address.Server!, e)} " +
                                     $"(the store's address is in {_address.From})", e);
        }
    }

    /// <summary>
    /// On install, the schema (owned by this role; only it may use it); on every open, the tables a newer ferry adds, in
    /// one transaction under an advisory lock, so two relays opening at once do not both create them. A stamp of the
    /// migrations makes an open that has nothing to do one query.
    /// </summary>
    public override async Task MigrateAsync(IReadOnlyList<(string Name, string Sql)> files,
        IReadOnlyList<(string Table, string Column, string Type)> addedColumns, bool create, CancellationToken ct)
    {
        var ddl = files.Select(f => (f.Name, Sql: Ddl(f.Sql))).ToList();
        var added = addedColumns.Select(a => $"ALTER TABLE {Quote.Ident(a.Table)} ADD COLUMN IF NOT EXISTS {Quote.Ident(a.Column)} {Ddl(a.Type)}").ToList();
        var stamp = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes(string.Join("\n", ddl.Select(d => d.Sql).Concat(added)))))[..16];
        var schema = Quote.Ident(Schema);
        await RetryAsync(async () =>
        {
            await using var c = await OpenConnectionAsync(ct);
            if (create) await CreateSchemaAsync(c, ct);
            else if (await ScalarAsync(c, "SELECT to_regclass(@t)::text", ct, ("t", Quote.Qualified(Schema, "meta"))) is null)
                throw new FerryException($"No ferry control store in {_address.Describe()} (named in {_address.From}). " +
                                         "Create it with ferry install and the same keys, or correct the address.");
            if (await ScalarAsync(c, "SELECT value FROM meta WHERE key = 'control_sql'", ct, tolerateMissing: true) == stamp) return 0;
            await using var tx = await c.BeginTransactionAsync(ct);
            await ScalarAsync(c, "SELECT pg_advisory_xact_lock(hashtext(@k))::text", ct, ("k", "ferry control store " + Schema));
            foreach (var (_, sql) in ddl) await ExecAsync(c, sql, ct);
            foreach (var sql in added) await ExecAsync(c, sql, ct);
            await ExecAsync(c, $"COMMENT ON SCHEMA {schema} IS {Quote.Literal(StoreAddress.SchemaComment)}", ct);
            await RevokeOthersAsync(c, ct);
            await ExecAsync(c, "INSERT INTO meta (key, value) VALUES ('control_sql', @v) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                ct, ("v", stamp));
            await tx.CommitAsync(ct);
            return 0;
        }, ct);
    }

    /// <summary>
    /// The schema, owned by this role. An existing one of another role is refused: its owner could read the passwords
    /// kept there, or change what the relay reads.
    /// </summary>
    private async Task CreateSchemaAsync(NpgsqlConnection c, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT pg_get_userbyid(nspowner)::text, current_user::text FROM pg_namespace WHERE nspname = @s", c);
        cmd.Parameters.AddWithValue("s", Schema);
        string? owner = null, me = null;
        await using (var r = await cmd.ExecuteReaderAsync(ct))
            if (await r.ReadAsync(ct)) (owner, me) = (r.GetString(0), r.GetString(1));
        if (owner is null)
        {
            try
            {
                await ExecAsync(c, $"CREATE SCHEMA IF NOT EXISTS {Quote.Ident(Schema)}", ct);
            }
            catch (PostgresException e) when (e.SqlState == "42501")
            {
                var s = _address.Server!;
                throw new FerryException($"{s.User} may not create schema {Schema} in database {s.DbName}: {e.MessageText}. As the " +
                                         $"database's owner, run: GRANT CREATE ON DATABASE {Quote.Ident(s.DbName)} TO {Quote.Ident(s.User)};", e);
            }
        }
        else if (owner != me)
        {
            throw new FerryException($"Schema {Schema} in {_address.Describe()} belongs to {owner}, not to {me}: the control store's " +
                                     "schema must be its role's alone (it may hold passwords). Choose another with schema=NAME, " +
                                     $"or have {owner} run: ALTER SCHEMA {Quote.Ident(Schema)} OWNER TO {Quote.Ident(me!)};");
        }
    }

    /// <summary>
    /// Takes back any right on the schema, its tables and sequences held by a role other than their owner (PUBLIC, a
    /// default privilege, a hand-made grant): the store holds the databases' passwords when pass= was used.
    /// </summary>
    private async Task RevokeOthersAsync(NpgsqlConnection c, CancellationToken ct)
    {
        var grantees = new List<string>();
        await using (var cmd = new NpgsqlCommand("""
            SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END
            FROM (SELECT n.nspacl AS acl, n.nspowner AS owner FROM pg_namespace n WHERE n.nspname = @s
                  UNION ALL
                  SELECT cl.relacl, cl.relowner FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace WHERE n.nspname = @s) o,
                 aclexplode(o.acl) a
            WHERE a.grantee <> o.owner
            """, c))
        {
            cmd.Parameters.AddWithValue("s", Schema);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct)) grantees.Add(r.GetString(0));
        }
        var schema = Quote.Ident(Schema);
        // PUBLIC always: a right granted to it is not listed per role.
        foreach (var g in grantees.Append("PUBLIC").Distinct())
            await ExecAsync(c, $"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {g}; " +
                               $"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {g}; REVOKE ALL ON SCHEMA {schema} FROM {g}", ct);
    }

    /// <summary>SQLite's types as PostgreSQL's: 64-bit integers, double precision, an identity for a row id.</summary>
    internal static string Ddl(string sql) =>
        Real().Replace(Integer().Replace(RowId().Replace(sql, "bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"), "bigint"),
            "double precision");

    public override string ClockSql => "SELECT extract(epoch FROM clock_timestamp())::double precision";

    /// <summary>Npgsql names parameters <c>@name</c>; the store's SQL may say <c>$name</c>, as SQLite also reads.</summary>
    public override string Sql(string sql) => DollarParameter().Replace(sql, "@$1");

    public override string ParameterName(string name) => name.TrimStart('$', '@');

    private async Task<T> RetryAsync<T>(Func<Task<T>> work, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await work();
            }
            catch (Exception e) when (attempt < Attempts && Transient(e) && !ct.IsCancellationRequested)
            {
                // 0.25 s doubling: about 8 s in all, enough for a reset link or a failover, short for a person waiting.
                await Task.Delay(TimeSpan.FromMilliseconds(250 * (1 << (attempt - 1)) * (0.75 + Random.Shared.NextDouble() / 2)), ct);
            }
        }
    }

    /// <summary>
    /// A failure that a new connection may not meet: the link, the server going away, too many connections, or
    /// another transaction's conflicting commit (which rolled this one back). A statement whose answer was lost with
    /// the link may have committed; every store write is an upsert, a delete, or an insert that a repeat refuses
    /// plainly (already exists), or a history line.
    /// </summary>
    private static bool Transient(Exception e) => e switch
    {
        FerryException { InnerException: { } inner } => Transient(inner),
        PostgresException pe => pe.SqlState is "40001" or "40P01" or "55P03" or "57P01" or "57P02" or "57P03" or "53300"
                                || pe.SqlState.StartsWith("08", StringComparison.Ordinal),
        NpgsqlException ne => ne.IsTransient || ne.InnerException is SocketException or IOException or TimeoutException,
        IOException or SocketException or TimeoutException => true,
        _ => false,
    };

    private static async Task ExecAsync(NpgsqlConnection c, string sql, CancellationToken ct, params (string Name, object Value)[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, c);
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static Task<string?> ScalarAsync(NpgsqlConnection c, string sql, CancellationToken ct, params (string Name, object Value)[] args) =>
        ScalarAsync(c, sql, ct, false, args);

    private static async Task<string?> ScalarAsync(NpgsqlConnection c, string sql, CancellationToken ct, bool tolerateMissing,
        params (string Name, object Value)[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, c);
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v);
        try
        {
            return await cmd.ExecuteScalarAsync(ct) as string;
        }
        catch (PostgresException e) when (tolerateMissing && e.SqlState == "42P01")
        {
            return null;
        }
    }

    public override void Dispose() => _source.Dispose();

    [GeneratedRegex(@"\bINTEGER PRIMARY KEY\b")]
    private static partial Regex RowId();

    [GeneratedRegex(@"\bINTEGER\b")]
    private static partial Regex Integer();

    [GeneratedRegex(@"\bREAL\b")]
    private static partial Regex Real();

    [GeneratedRegex(@"(?<![\w$@])\$([A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex DollarParameter();
}
