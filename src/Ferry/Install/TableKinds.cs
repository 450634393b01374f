using Ferry.Postgres;
using Npgsql;

namespace Ferry.Install;

/// <summary>
/// Where a table stands among partitions and inheritance. A partitioned table is replicated through itself,
/// whichever partition a row lives in; its partitions are never replicated as tables of their own. Inheritance
/// (<c>INHERITS</c>, not partitioning) is refused: an UPDATE or DELETE through the parent changes rows that live in
/// a child, where the parent's triggers do not see them and the parent's primary key does not reach, so a row
/// would be duplicated or lost on the other databases.
/// </summary>
/// <param name="PartitionOf">the partitioned table this one is a partition of (the top of the tree), if any</param>
/// <param name="InheritsFrom">the parents this table inherits from, outside partitioning</param>
/// <param name="InheritedBy">the tables that inherit from this one, outside partitioning</param>
public sealed record TableKind(TableName Table, bool Partitioned, TableName? PartitionOf, IReadOnlyList<TableName> InheritsFrom,
    IReadOnlyList<TableName> InheritedBy)
{
    /// <summary>Why ferry cannot replicate this table as it is, with what to do instead; null when it can.</summary>
    public string? Problem(string db)
    {
        if (PartitionOf is { } parent)
            return $"Table {Table} is a partition of {parent} in database {db}: ferry replicates a partitioned table as a " +
                   $"whole, whichever partition a row is written to (and partitions created later). Add {parent} instead.";
        var related = InheritsFrom.Count > 0
            ? $"inherits from {string.Join(", ", InheritsFrom)}"
            : InheritedBy.Count > 0 ? $"is inherited by {string.Join(", ", InheritedBy)}" : null;
        return related is null
            ? null
            : $"Table {Table} {related} in database {db} (table inheritance, INHERITS): ferry does not replicate tables " +
              "in an inheritance tree, since a write through the parent changes rows that live in a child, which the " +
              "parent's capture and key do not cover. Declarative partitioning (PARTITION BY ... with PARTITION OF) is " +
              "supported: replicate the partitioned table.";
    }

    public static async Task<TableKind?> ReadAsync(NpgsqlConnection c, TableName table, CancellationToken ct) =>
        (await ReadAsync(c, [table], ct)).GetValueOrDefault(table);

    /// <summary>The kinds of the tables that exist; missing ones are left out.</summary>
    public static async Task<Dictionary<TableName, TableKind>> ReadAsync(NpgsqlConnection c, IReadOnlyCollection<TableName> tables,
        CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT t.x, cl.relkind = 'p',
                   (SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(r.relname) FROM pg_catalog.pg_partition_root(cl.oid) AS root (oid)
                    JOIN pg_catalog.pg_class r ON r.oid = root.oid JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
                    WHERE cl.relispartition),
                   ARRAY(SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.relname) FROM pg_catalog.pg_inherits i
                         JOIN pg_catalog.pg_class p ON p.oid = i.inhparent JOIN pg_catalog.pg_namespace n ON n.oid = p.relnamespace
                         WHERE i.inhrelid = cl.oid AND NOT cl.relispartition ORDER BY 1),
                   ARRAY(SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(ch.relname) FROM pg_catalog.pg_inherits i
                         JOIN pg_catalog.pg_class ch ON ch.oid = i.inhrelid JOIN pg_catalog.pg_namespace n ON n.oid = ch.relnamespace
                         WHERE i.inhparent = cl.oid AND NOT ch.relispartition ORDER BY 1)
            FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS t (x, i)
            JOIN pg_catalog.pg_class cl ON cl.oid = pg_catalog.to_regclass(t.x)
            ORDER BY t.i
            """, c);
        var list = tables.ToList();
        cmd.Parameters.AddWithValue(list.Select(Quote.Qualified).ToArray());
        var kinds = new Dictionary<TableName, TableKind>();
        var byQuoted = list.ToDictionary(Quote.Qualified);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            var table = byQuoted[r.GetString(0)];
            kinds[table] = new TableKind(table, r.GetBoolean(1), r.IsDBNull(2) ? null : TableName.Parse(r.GetString(2)),
                Names(r.GetFieldValue<string[]>(3)), Names(r.GetFieldValue<string[]>(4)));
        }
        return kinds;
    }

    /// <summary>Each table's problem (<see cref="Problem"/>) on this database, for the checks of add sync.</summary>
    public static async Task<List<string>> ProblemsAsync(NpgsqlConnection c, string db, IReadOnlyCollection<TableName> tables,
        CancellationToken ct) =>
        (await ReadAsync(c, tables, ct)).Values.Select(k => k.Problem(db)).OfType<string>().ToList();

    /// <summary>
    /// The GRANT a partitioned table's existing partitions lack: creating ferry's row trigger on the partitioned table
    /// clones it onto each of them, which PostgreSQL allows only with the TRIGGER privilege on each. Partitions
    /// created or attached later get the clone without it, and reads and writes through the partitioned table need
    /// privileges on it alone.
    /// </summary>
    public static async Task<List<string>> PartitionGrantProblemsAsync(NpgsqlConnection c, IReadOnlyCollection<TableName> tables,
        CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT t.x, pg_catalog.array_agg(pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.relname) ORDER BY p.relname)
            FROM pg_catalog.unnest($1::text[]) AS t (x)
            CROSS JOIN LATERAL pg_catalog.pg_partition_tree(pg_catalog.to_regclass(t.x)) AS tree
            JOIN pg_catalog.pg_class p ON p.oid = tree.relid JOIN pg_catalog.pg_namespace n ON n.oid = p.relnamespace
            WHERE tree.level > 0 AND NOT pg_catalog.has_table_privilege(tree.relid, 'TRIGGER')
            GROUP BY t.x ORDER BY t.x
            """, c);
        cmd.Parameters.AddWithValue(tables.Select(Quote.Qualified).ToArray());
        var problems = new List<string>();
        var user = Quote.Ident(c.UserName!);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            problems.Add($"GRANT TRIGGER ON {string.Join(", ", r.GetFieldValue<string[]>(1))} TO {user};  -- ferry's capture " +
                         $"trigger on partitioned table {r.GetString(0)} is cloned onto each existing partition " +
                         "(partitions added later need no grant)");
        return problems;
    }

    /// <summary>Names as quote_ident wrote them, which TableName.Parse reads back exactly.</summary>
    private static List<TableName> Names(string[] quoted) => quoted.Select(q => TableName.Parse(q)).ToList();
}
