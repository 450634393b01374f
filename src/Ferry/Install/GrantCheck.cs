using Ferry.Postgres;
using Npgsql;

namespace Ferry.Install;

/// <summary>
/// Checks that the connected role has what ferry needs, and only that (DESIGN invariant 1), and says which grant is
/// missing as the SQL to run. Also notes what the role may do beyond that, which ferry then uses.
/// </summary>
public static class GrantCheck
{
    public static readonly string TablePrivileges = "SELECT, INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER";

    /// <summary>Database-level grants: CONNECT, and CREATE unless the role already owns schema ferry; TEMP for apply.</summary>
    public static async Task<List<string>> DatabaseProblemsAsync(NpgsqlConnection c, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT current_user::text, current_database()::text,
                   has_database_privilege(current_database(), 'CREATE'),
                   has_database_privilege(current_database(), 'TEMPORARY'),
                   (SELECT pg_has_role(n.nspowner, 'USAGE') FROM pg_namespace n WHERE n.nspname = 'ferry'),
                   (SELECT n.nspowner::regrole::text FROM pg_namespace n WHERE n.nspname = 'ferry')
            """, c);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        var user = r.GetString(0);
        var db = r.GetString(1);
        var canCreate = r.GetBoolean(2);
        var canTemp = r.GetBoolean(3);
        bool? ownsSchema = r.IsDBNull(4) ? null : r.GetBoolean(4);
        var schemaOwner = r.IsDBNull(5) ? null : r.GetString(5);
        var problems = new List<string>();
        // Each problem is the statement that fixes it, with why as an SQL comment, so it can be pasted into psql.
        if (ownsSchema == false)
            problems.Add($"ALTER SCHEMA ferry OWNER TO {Quote.Ident(user)};  -- schema ferry exists but belongs to {schemaOwner}");
        else if (ownsSchema is null && !canCreate)
            problems.Add($"GRANT CREATE ON DATABASE {Quote.Ident(db)} TO {Quote.Ident(user)};  -- to create ferry's schema");
        if (!canTemp)
            problems.Add($"GRANT TEMPORARY ON DATABASE {Quote.Ident(db)} TO {Quote.Ident(user)};  -- apply stages rows in temporary tables");
        return problems;
    }

    /// <summary>Per table: the grants it lacks, as the GRANT statement that fixes them.</summary>
    public static async Task<List<string>> TableProblemsAsync(NpgsqlConnection c, IEnumerable<TableName> tables, CancellationToken ct)
    {
        var problems = new List<string>();
        foreach (var t in tables)
        {
            await using var cmd = new NpgsqlCommand("""
                SELECT p FROM unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE','TRUNCATE','TRIGGER']) AS p
                WHERE NOT has_table_privilege(to_regclass($1), p)
                """, c);
            cmd.Parameters.AddWithValue(Quote.Qualified(t));
            var missing = new List<string>();
            await using (var r = await cmd.ExecuteReaderAsync(ct))
                while (await r.ReadAsync(ct)) missing.Add(r.GetString(0));
            await using var schema = new NpgsqlCommand("SELECT has_schema_privilege($1, 'USAGE')", c);
            schema.Parameters.AddWithValue(t.Schema);
            if (!(bool)(await schema.ExecuteScalarAsync(ct))!)
                problems.Add($"GRANT USAGE ON SCHEMA {Quote.Ident(t.Schema)} TO {Quote.Ident(c.UserName!)};  -- to see table {t}");
            if (missing.Count > 0)
                problems.Add($"GRANT {string.Join(", ", missing)} ON {Quote.Qualified(t)} TO {Quote.Ident(c.UserName!)};  " +
                             $"-- {c.UserName} lacks {string.Join(", ", missing)} on {t}");
        }
        return problems;
    }

    /// <summary>
    /// Per sequence: the grants it lacks, as the GRANT statement that fixes them. Reading a sequence's position
    /// (<c>SELECT last_value, is_called FROM seq</c>) needs SELECT; moving it forward (<c>setval</c>, <c>nextval</c>)
    /// needs UPDATE, which only a database some pair writes to needs. Sequences are looked up by name in the catalog,
    /// so a schema the role may not use is reported, not raised.
    /// </summary>
    public static async Task<List<string>> SequenceProblemsAsync(NpgsqlConnection c, IEnumerable<TableName> sequences, bool moved,
        CancellationToken ct)
    {
        var problems = new List<string>();
        string[] needed = moved ? ["SELECT", "UPDATE"] : ["SELECT"];
        var user = Quote.Ident(c.UserName!);
        foreach (var s in sequences)
        {
            await using var cmd = new NpgsqlCommand("""
                SELECT has_schema_privilege(n.oid, 'USAGE'),
                       ARRAY(SELECT p FROM unnest($3::text[]) AS p WHERE NOT has_sequence_privilege(cl.oid, p))
                FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace
                WHERE n.nspname = $1 AND cl.relname = $2 AND cl.relkind = 'S'
                """, c);
            cmd.Parameters.AddWithValue(s.Schema);
            cmd.Parameters.AddWithValue(s.Name);
            cmd.Parameters.AddWithValue(needed);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            if (!await r.ReadAsync(ct)) continue; // missing: reported by whoever looked it up
            if (!r.GetBoolean(0))
                problems.Add($"GRANT USAGE ON SCHEMA {Quote.Ident(s.Schema)} TO {user};  -- to see sequence {s}");
            var missing = r.GetFieldValue<string[]>(1);
            if (missing.Length > 0)
                problems.Add($"GRANT {string.Join(", ", missing)} ON SEQUENCE {s} TO {user};  " +
                             $"-- {c.UserName} lacks {string.Join(", ", missing)} on {s}" +
                             (moved ? " (SELECT reads its position, UPDATE moves it forward)" : " (SELECT reads its position)"));
        }
        return problems;
    }

    /// <summary>
    /// Whether the role may set session_replication_role (superuser, or granted the setting on PostgreSQL 15+).
    /// Ferry never requires it; where it can, apply skips user triggers and FK checks the way a replica should.
    /// </summary>
    public static async Task<bool> CanSetReplicationRoleAsync(NpgsqlConnection c, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT rolsuper OR (current_setting('server_version_num')::int >= 150000
                                AND has_parameter_privilege('session_replication_role', 'SET'))
            FROM pg_roles WHERE rolname = current_user
            """, c);
        try
        {
            return (bool)(await cmd.ExecuteScalarAsync(ct))!;
        }
        catch (PostgresException)
        {
            return false;
        }
    }
}
