using Ferry.Postgres;
using Npgsql;

namespace Ferry.Install;

/// <summary>
/// Row-level security hides rows from ferry's role without an error: a hidden row is never read, so it never leaves
/// its database, and never compared, so `ferry compare` would call two different tables the same; a hidden row on a
/// target makes ferry's upsert insert it again. So ferry refuses a table it cannot see in full. It sees it all when
/// row security is off, when its role has BYPASSRLS, when it owns the table and FORCE is off, or when a permissive
/// policy applying to it (or to PUBLIC) lets it read and write every row (USING (true), WITH CHECK (true), for ALL
/// or for each of SELECT, INSERT, UPDATE and DELETE) and no restrictive policy applying to it narrows that.
/// </summary>
public static class RowSecurity
{
    /// <summary>Per table this role cannot see in full, what is wrong and the statement to run as its owner.</summary>
    public static async Task<List<string>> ProblemsAsync(NpgsqlConnection c, string db, IReadOnlyCollection<TableName> tables,
        CancellationToken ct)
    {
        // Policies apply to a role through membership with inheritance, as table ownership does: pg_has_role USAGE.
        await using var cmd = new NpgsqlCommand("""
            WITH t AS (
                SELECT cl.oid, cl.relforcerowsecurity AS forced, pg_catalog.pg_has_role(cl.relowner, 'USAGE') AS owner
                FROM pg_catalog.unnest($1::text[]) AS x
                JOIN pg_catalog.pg_class cl ON cl.oid = pg_catalog.to_regclass(x)
                WHERE cl.relrowsecurity
            ), p AS (
                SELECT pol.polrelid, pol.polname, pol.polcmd, pol.polpermissive,
                       pg_catalog.pg_get_expr(pol.polqual, pol.polrelid) AS qual,
                       pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid) AS checks
                FROM pg_catalog.pg_policy pol
                WHERE pol.polrelid IN (SELECT oid FROM t)
                  AND (0::oid = ANY (pol.polroles)
                       OR EXISTS (SELECT 1 FROM pg_catalog.unnest(pol.polroles) AS r (oid)
                                  WHERE r.oid <> 0::oid AND pg_catalog.pg_has_role(r.oid, 'USAGE')))
            )
            SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(cl.relname), t.forced, t.owner,
                   ARRAY(SELECT cmd FROM pg_catalog.unnest(ARRAY['r', 'a', 'w', 'd']) AS cmd
                         WHERE NOT EXISTS (SELECT 1 FROM p WHERE p.polrelid = t.oid AND p.polpermissive
                                           AND p.polcmd::text IN ('*', cmd)
                                           AND (cmd = 'a' OR p.qual = 'true')
                                           AND (cmd IN ('r', 'd') OR coalesce(p.checks, p.qual) = 'true'))),
                   ARRAY(SELECT p.polname::text FROM p WHERE p.polrelid = t.oid AND NOT p.polpermissive
                         AND NOT (coalesce(p.qual, 'true') = 'true' AND coalesce(p.checks, 'true') = 'true') ORDER BY 1)
            FROM t JOIN pg_catalog.pg_class cl ON cl.oid = t.oid JOIN pg_catalog.pg_namespace n ON n.oid = cl.relnamespace
            WHERE NOT (SELECT rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = current_user)
              AND (t.forced OR NOT t.owner)
            ORDER BY 1
            """, c);
        cmd.Parameters.AddWithValue(tables.Select(Quote.Qualified).ToArray());
        var problems = new List<string>();
        var user = Quote.Ident(c.UserName!);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            var table = r.GetString(0);
            var uncovered = r.GetFieldValue<string[]>(3);
            var restrictive = r.GetFieldValue<string[]>(4);
            if (uncovered.Length == 0 && restrictive.Length == 0) continue;
            var why = r.GetBoolean(2) ? "FORCE ROW LEVEL SECURITY applies even to its owner" : $"{c.UserName} does not own it";
            var fix = restrictive.Length > 0
                ? $"restrictive polic{(restrictive.Length == 1 ? "y" : "ies")} {string.Join(", ", restrictive)} appl" +
                  $"{(restrictive.Length == 1 ? "ies" : "y")} to {c.UserName} and can hide rows whatever other policies allow. " +
                  $"As the table owner, limit {(restrictive.Length == 1 ? "it" : "them")} to the application's roles " +
                  $"(ALTER POLICY {Quote.Ident(restrictive[0])} ON {table} TO app_role;)" +
                  (uncovered.Length > 0 ? $" and run: CREATE POLICY ferry_sees_all ON {table} FOR ALL TO {user} USING (true) WITH CHECK (true);" : "") +
                  $" Or, where the platform allows it, as a superuser: ALTER ROLE {user} BYPASSRLS;"
                : $"no policy lets {c.UserName} {string.Join(", ", uncovered.Select(Command))} every row. As the table owner, run " +
                  $"in database {db}: CREATE POLICY ferry_sees_all ON {table} FOR ALL TO {user} USING (true) WITH CHECK (true); " +
                  $"(or, where the platform allows it, as a superuser: ALTER ROLE {user} BYPASSRLS;)";
            problems.Add($"Table {table} in database {db} has row-level security enabled and ferry's role {c.UserName} cannot see " +
                         $"all its rows ({why}): rows it cannot see would never be replicated or compared. {char.ToUpperInvariant(fix[0])}{fix[1..]}");
        }
        return problems;
    }

    /// <summary>Throws with every problem's fix when this role cannot see some table in full (compare, the relay).</summary>
    public static async Task ThrowIfHiddenAsync(NpgsqlConnection c, string db, IReadOnlyCollection<TableName> tables, CancellationToken ct)
    {
        var problems = await ProblemsAsync(c, db, tables, ct);
        if (problems.Count > 0) throw new FerryException(string.Join(Environment.NewLine, problems));
    }

    private static string Command(string cmd) => cmd switch
    {
        "r" => "SELECT",
        "a" => "INSERT",
        "w" => "UPDATE",
        _ => "DELETE",
    };
}
