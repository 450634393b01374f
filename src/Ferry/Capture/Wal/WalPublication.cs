using Ferry.Postgres;
using Npgsql;

namespace Ferry.Capture.Wal;

/// <summary>
/// What a database needs before ferry can capture it by WAL, each problem with the statement that fixes it. The
/// publication is the table owner's to make (ferry's role owns no application table, and FOR ALL TABLES needs a
/// superuser); with publish_via_partition_root a partition's changes arrive as its partitioned table's.
/// </summary>
public static class WalPublication
{
    public const string Name = "ferry";

    public const string Advice = "WAL capture needs wal_level = logical and a role with the REPLICATION attribute " +
                                 "(ALTER ROLE ... REPLICATION; on AWS RDS: GRANT rds_replication TO ...); see the README, WAL capture.";

    public static string CreateStatement(IEnumerable<TableName> tables) =>
        $"CREATE PUBLICATION {Name} FOR TABLE {string.Join(", ", tables.Select(Quote.Qualified))} WITH (publish_via_partition_root = true);";

    public static async Task<List<string>> ProblemsAsync(NpgsqlConnection c, Database db, IReadOnlyList<TableName> tables, CancellationToken ct)
    {
        var problems = new List<string>();
        await using (var cmd = new NpgsqlCommand("""
            SELECT current_setting('wal_level'),
                   (SELECT rolreplication FROM pg_roles WHERE rolname = current_user)
                   OR EXISTS (SELECT FROM pg_roles r WHERE r.rolname = 'rds_replication' AND pg_has_role(current_user, r.oid, 'MEMBER')),
                   (SELECT pubviaroot FROM pg_publication WHERE pubname = $1)
            """, c))
        {
            cmd.Parameters.AddWithValue(Name);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            await r.ReadAsync(ct);
            if (r.GetString(0) != "logical")
                problems.Add($"Database {db.Name} captures by WAL (capture=wal) but wal_level is {r.GetString(0)}: set wal_level = logical " +
                             "(on a managed service, its logical decoding flag; see the README) and restart the server.");
            if (!r.GetBoolean(1))
                problems.Add($"Database {db.Name} captures by WAL but {db.User} may not read replication slots: as a superuser or " +
                             $"the service's admin role, run: ALTER ROLE {Quote.Ident(db.User)} REPLICATION; " +
                             $"(AWS RDS: GRANT rds_replication TO {Quote.Ident(db.User)};)");
            if (r.IsDBNull(2))
            {
                problems.Add($"Database {db.Name} captures by WAL but has no publication {Name}: as the tables' owner, run in {db.DbName}: " +
                             CreateStatement(tables));
                return problems;
            }
            if (!r.GetBoolean(2))
                problems.Add($"Publication {Name} in {db.Name} must publish partitions as their partitioned table: as its owner, run: " +
                             $"ALTER PUBLICATION {Name} SET (publish_via_partition_root = true);");
        }
        var published = new HashSet<TableName>();
        await using (var cmd = new NpgsqlCommand("SELECT schemaname::text, tablename::text FROM pg_publication_tables WHERE pubname = $1", c))
        {
            cmd.Parameters.AddWithValue(Name);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct)) published.Add(new TableName(r.GetString(0), r.GetString(1)));
        }
        var missing = tables.Where(t => !published.Contains(t)).ToList();
        if (missing.Count > 0)
            problems.Add($"Publication {Name} in {db.Name} lacks {string.Join(", ", missing)}: as the tables' owner, run in {db.DbName}: " +
                         $"ALTER PUBLICATION {Name} ADD TABLE {string.Join(", ", missing.Select(Quote.Qualified))};");
        return problems;
    }
}
