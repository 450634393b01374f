using Ferry.Local;
using Npgsql;

namespace Ferry.Benchmarks;

/// <summary>
/// The roles of DESIGN.md invariant 1, as the test harness makes them: ferry replicates as <c>ferry_repl</c> with
/// only CONNECT and CREATE on the database and the six table privileges; tables belong to <c>app_owner</c> and are
/// written by <c>app_writer</c>. Written again here because the benchmark cannot reference the test project.
/// </summary>
public static class BenchRoles
{
    public const string Ferry = "ferry_repl";
    public const string FerryPassword = "ferry-bench-secret";
    public const string Owner = "app_owner";
    public const string Writer = "app_writer";
    public const string WriterPassword = "app-bench-secret";

    public static Task CreateAsync(LocalServer server, CancellationToken ct) =>
        server.ExecuteAsync("postgres", $"""
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{Ferry}') THEN CREATE ROLE {Ferry}; END IF;
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{Owner}') THEN CREATE ROLE {Owner}; END IF;
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{Writer}') THEN CREATE ROLE {Writer}; END IF;
            END
            $$;
            ALTER ROLE {Ferry} LOGIN PASSWORD '{FerryPassword}' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
            ALTER ROLE {Owner} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
            ALTER ROLE {Writer} LOGIN PASSWORD '{WriterPassword}' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
            """, ct);

    /// <summary>A fresh database owned by app_owner, on which ferry_repl may connect and create its schema.</summary>
    public static async Task CreateDatabaseAsync(LocalServer server, string database, CancellationToken ct)
    {
        await server.ExecuteAsync("postgres", $"DROP DATABASE IF EXISTS {database} WITH (FORCE)", ct);
        await server.CreateDatabaseAsync(database, Owner, ct);
        await server.ExecuteAsync("postgres", $"GRANT CONNECT, CREATE ON DATABASE {database} TO {Ferry}", ct);
    }

    /// <summary>Runs DDL as app_owner, then grants each table exactly what invariant 1 allows ferry_repl.</summary>
    public static Task CreateTablesAsync(LocalServer server, string database, string ddl, IEnumerable<string> tables,
        CancellationToken ct)
    {
        var grants = tables.Select(t =>
            $"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER ON {t} TO {Ferry}; " +
            $"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON {t} TO {Writer};");
        return server.ExecuteAsync(database,
            $"SET ROLE {Owner}; {ddl}; RESET ROLE; GRANT USAGE ON SCHEMA public TO {Ferry}, {Writer}; " +
            string.Join(" ", grants), ct);
    }

    public static string ConnectionString(LocalServer server, string database, string user, string password) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = server.Host,
            Port = server.Port,
            Database = database,
            Username = user,
            Password = password,
            IncludeErrorDetail = true,
            // The benchmark's own clients: no pooling surprises, no reset round trip on close.
            Pooling = false,
        }.ConnectionString;

    public static string WriterConnectionString(LocalServer server, string database) =>
        ConnectionString(server, database, Writer, WriterPassword);

    public static string FerryConnectionString(LocalServer server, string database) =>
        ConnectionString(server, database, Ferry, FerryPassword);

    /// <summary>The database as ferry's control store records it: as the restricted role.</summary>
    public static Database FerryDatabase(string name, LocalServer server, string database) =>
        new(name, new Dictionary<string, string>
        {
            ["dbname"] = database,
            ["host"] = server.Host,
            ["port"] = server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["user"] = Ferry,
        }, FerryPassword);
}
