using Ferry.Local;

namespace Ferry.Tests.Harness;

/// <summary>
/// The roles of DESIGN.md invariant 1: ferry runs as <c>ferry_repl</c>, a plain login role with only the grants
/// below; the application's tables belong to <c>app_owner</c> and are written by <c>app_writer</c>.
/// Roles are cluster-wide; the per-database grants are given per test database.
/// </summary>
public static class RestrictedRole
{
    public const string User = "ferry_repl";
    public const string Password = "ferry-secret";
    public const string Owner = "app_owner";
    public const string Writer = "app_writer";
    public const string WriterPassword = "app-secret";

    /// <summary>
    /// The WAL capture variant (capture=wal): ferry_repl's grants, by membership, plus the REPLICATION attribute,
    /// which managed services give their admin role. Still no superuser.
    /// </summary>
    public const string WalUser = "ferry_wal";

    public static Task EnsureWalRoleAsync(LocalServer s, CancellationToken ct) =>
        s.ExecuteAsync("postgres", $"""
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{WalUser}') THEN
                    CREATE ROLE {WalUser};
                END IF;
            END
            $$;
            ALTER ROLE {WalUser} LOGIN PASSWORD '{Password}' NOSUPERUSER NOCREATEDB NOCREATEROLE REPLICATION NOBYPASSRLS;
            GRANT {User} TO {WalUser};
            """, ct);

    /// <summary>Creates the three roles if missing, and (re)sets their attributes so a stale cluster cannot drift.</summary>
    public static Task EnsureRolesAsync(LocalServer s, CancellationToken ct) =>
        s.ExecuteAsync("postgres", $"""
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{User}') THEN
                    CREATE ROLE {User};
                END IF;
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{Owner}') THEN
                    CREATE ROLE {Owner};
                END IF;
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{Writer}') THEN
                    CREATE ROLE {Writer};
                END IF;
            END
            $$;
            ALTER ROLE {User} LOGIN PASSWORD '{Password}' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
            ALTER ROLE {Owner} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
            ALTER ROLE {Writer} LOGIN PASSWORD '{WriterPassword}' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
            """, ct);

    /// <summary>What ferry_repl gets on a database: connect, and create its own schema.</summary>
    public static Task GrantDatabaseAsync(LocalServer s, string db, CancellationToken ct) =>
        s.ExecuteAsync("postgres", $"GRANT CONNECT, CREATE ON DATABASE {LocalServer.QuoteIdentifier(db)} TO {User}", ct);

    /// <summary>
    /// Hands each table (already quoted, e.g. <c>public."Mixed Case"</c>) to app_owner, grants ferry_repl exactly
    /// the table rights of invariant 1, and lets app_writer read and write it.
    /// </summary>
    public static Task GrantTablesAsync(LocalServer s, string db, IEnumerable<string> qualifiedTables, CancellationToken ct)
    {
        var tables = qualifiedTables.ToList();
        if (tables.Count == 0)
        {
            return Task.CompletedTask;
        }

        var schemas = tables.Select(SchemaOf).Distinct(StringComparer.Ordinal).ToList();
        var sql = new List<string>();
        foreach (var table in tables)
        {
            // Not owned by ferry_repl nor by the superuser that created it: ferry must manage with grants alone.
            sql.Add($"ALTER TABLE {table} OWNER TO {Owner}");
            sql.Add($"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER ON {table} TO {User}");
            sql.Add($"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON {table} TO {Writer}");
        }

        foreach (var schema in schemas)
        {
            sql.Add($"GRANT USAGE ON SCHEMA {schema} TO {User}, {Writer}");
            // The application inserts through serial/identity defaults; ferry copies values and needs no sequence rights.
            sql.Add($"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {Writer}");
        }

        return s.ExecuteAsync(db, string.Join(";\n", sql), ct);
    }

    /// <summary>
    /// What ferry_repl needs on each sequence of a herd (quoted, e.g. <c>public."order no"</c>): SELECT to read its
    /// position, UPDATE to move it forward.
    /// </summary>
    public static Task GrantSequencesAsync(LocalServer s, string db, IEnumerable<string> qualifiedSequences, CancellationToken ct) =>
        s.ExecuteAsync(db, string.Join(";\n", qualifiedSequences.Select(q => $"GRANT SELECT, UPDATE ON SEQUENCE {q} TO {User}")), ct);

    public static string ConnectionString(LocalServer s, string db, string user = User, string password = Password) =>
        new Npgsql.NpgsqlConnectionStringBuilder
        {
            Host = s.Host,
            Port = s.Port,
            Database = db,
            Username = user,
            Password = password,
            IncludeErrorDetail = true,
        }.ConnectionString;

    /// <summary>The schema part of a quoted qualified name (<c>public</c> when unqualified), still quoted.</summary>
    internal static string SchemaOf(string qualifiedTable)
    {
        var inQuotes = false;
        for (var i = 0; i < qualifiedTable.Length; i++)
        {
            var c = qualifiedTable[i];
            if (c == '"')
            {
                inQuotes = !inQuotes; // A doubled quote toggles twice, which leaves the state unchanged.
            }
            else if (c == '.' && !inQuotes)
            {
                return qualifiedTable[..i];
            }
        }

        return "public";
    }
}
