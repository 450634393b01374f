using Ferry.Postgres;
using Npgsql;

namespace Ferry.Install;

/// <summary>Reads tables from a database's catalog: their shape, their keys, who references whom.</summary>
public static class TableCatalog
{
    /// <summary>
    /// The columns of the tables named in $1 (qualified names, text[]), each row led by its table's 1-based position in
    /// $1; a table that does not exist has none. One statement for many tables, so a caller can pipeline it.
    /// </summary>
    public const string ColumnsSql = """
        SELECT t.n::int,
               a.attname::text,
               format_type(a.atttypid, a.atttypmod),
               coalesce(array_position(i.indkey::int2[], a.attnum) + 1 - array_lower(i.indkey::int2[], 1), 0) AS key_position,
               a.atttypid < 16384 AS builtin,
               a.attidentity = 'a' AS identity_always,
               -- The type of ferry's own copies of a key column (TableShape.VersionType). A typmod of -1 is what
               -- format_type prints as bpchar and "bit", the lengthless forms, not char(1) and bit(1).
               CASE WHEN a.atttypid IN (21, 23) THEN 'bigint' -- smallint, integer
                    ELSE format_type(a.atttypid, -1) END
        FROM unnest($1::text[]) WITH ORDINALITY AS t (name, n)
        JOIN pg_attribute a ON a.attrelid = to_regclass(t.name)
        LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
        WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
        ORDER BY t.n, a.attnum
        """;

    /// <summary>
    /// The shapes <see cref="ColumnsSql"/> returned, by table, columns and key only (no unique keys, no reference
    /// actions); a table that has no column there is missing.
    /// </summary>
    public static async Task<Dictionary<TableName, TableShape>> ReadColumnsAsync(NpgsqlDataReader r, IReadOnlyList<TableName> tables,
        CancellationToken ct)
    {
        var columns = tables.Select(_ => new List<Column>()).ToList();
        var keys = tables.Select(_ => new List<(int Position, string Name)>()).ToList();
        while (await r.ReadAsync(ct))
        {
            var n = r.GetInt32(0) - 1;
            var keyPosition = r.GetInt32(3);
            columns[n].Add(new Column(r.GetString(1), r.GetString(2), keyPosition > 0, r.GetBoolean(4), r.GetBoolean(5))
                { VersionType = r.GetString(6) });
            if (keyPosition > 0) keys[n].Add((keyPosition, r.GetString(1)));
        }
        return Enumerable.Range(0, tables.Count).Where(n => columns[n].Count > 0).ToDictionary(n => tables[n],
            n => new TableShape(tables[n], columns[n], keys[n].OrderBy(k => k.Position).Select(k => k.Name).ToList()));
    }

    /// <summary>The table's shape, or null when it does not exist (or this role cannot see it).</summary>
    public static async Task<TableShape?> ReadAsync(NpgsqlConnection c, TableName table, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(ColumnsSql, c);
        cmd.Parameters.AddWithValue(new[] { Quote.Qualified(table) });
        TableShape? read;
        await using (var r = await cmd.ExecuteReaderAsync(ct))
            read = (await ReadColumnsAsync(r, [table], ct)).GetValueOrDefault(table);
        var columns = read?.Columns ?? [];
        var key = read?.Key ?? [];
        if (columns.Count == 0)
        {
            await using var exists = new NpgsqlCommand("SELECT to_regclass($1) IS NOT NULL", c);
            exists.Parameters.AddWithValue(Quote.Qualified(table));
            if (!(bool)(await exists.ExecuteScalarAsync(ct))!) return null;
        }
        return new TableShape(table, columns, key)
        {
            UniqueKeys = await UniqueKeysAsync(c, table, ct),
            DeleteActsOnReferences = await DeleteActsOnReferencesAsync(c, table, ct),
        };
    }

    private static async Task<bool> DeleteActsOnReferencesAsync(NpgsqlConnection c, TableName table, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE contype = 'f' AND confrelid = to_regclass($1) AND confdeltype <> 'a')", c);
        cmd.Parameters.AddWithValue(Quote.Qualified(table));
        return (bool)(await cmd.ExecuteScalarAsync(ct))!;
    }

    private static async Task<List<UniqueKey>> UniqueKeysAsync(NpgsqlConnection c, TableName table, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT ic.relname::text,
                   array_agg(a.attname::text ORDER BY k.ord)
            FROM pg_index i
            JOIN pg_class ic ON ic.oid = i.indexrelid
            CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k (attnum, ord)
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE i.indrelid = to_regclass($1) AND i.indisunique AND NOT i.indisprimary AND i.indisvalid
              AND i.indpred IS NULL AND i.indexprs IS NULL
            GROUP BY ic.relname
            ORDER BY 1
            """, c);
        cmd.Parameters.AddWithValue(Quote.Qualified(table));
        var keys = new List<UniqueKey>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) keys.Add(new UniqueKey(r.GetString(0), r.GetFieldValue<string[]>(1)));
        return keys;
    }

    /// <summary>Ordinary and partitioned tables visible to this role, outside the system schemas and ferry's own.</summary>
    public static async Task<List<(TableName Table, bool HasKey)>> ListAsync(NpgsqlConnection c, string? schema, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT n.nspname::text, cl.relname::text,
                   EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = cl.oid AND i.indisprimary)
            FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace
            WHERE cl.relkind IN ('r', 'p') AND NOT cl.relispartition
              AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'ferry') AND n.nspname NOT LIKE 'pg\_%'
              AND obj_description(n.oid, 'pg_namespace') IS DISTINCT FROM 'ferry control store'
              AND ($1::text IS NULL OR n.nspname = $1)
              AND has_table_privilege(cl.oid, 'SELECT')
            ORDER BY 1, 2
            """, c);
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)schema ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        var tables = new List<(TableName, bool)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) tables.Add((new TableName(r.GetString(0), r.GetString(1)), r.GetBoolean(2)));
        return tables;
    }

    /// <summary>Foreign keys among the given tables: (child, parent) edges, self-references left out.</summary>
    public static async Task<List<(TableName Child, TableName Parent, bool Deferrable)>> ForeignKeysAsync(
        NpgsqlConnection c, IReadOnlyList<TableName> tables, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(ForeignKeysSql, c);
        cmd.Parameters.AddWithValue(tables.Select(Quote.Qualified).ToArray());
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await ReadForeignKeysAsync(r, ct);
    }

    /// <summary><see cref="ForeignKeysAsync"/>'s statement, $1 the qualified names (text[]): for a caller that pipelines it.</summary>
    public const string ForeignKeysSql = """
        SELECT cn.nspname::text, cc.relname::text, pn.nspname::text, pc.relname::text, k.condeferrable
        FROM pg_constraint k
        JOIN pg_class cc ON cc.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace
        JOIN pg_class pc ON pc.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
        WHERE k.contype = 'f' AND k.conrelid <> k.confrelid
          AND k.conrelid = ANY (SELECT to_regclass(x) FROM unnest($1::text[]) AS x)
        """;

    public static async Task<List<(TableName Child, TableName Parent, bool Deferrable)>> ReadForeignKeysAsync(NpgsqlDataReader r,
        CancellationToken ct)
    {
        var edges = new List<(TableName, TableName, bool)>();
        while (await r.ReadAsync(ct))
            edges.Add((new TableName(r.GetString(0), r.GetString(1)), new TableName(r.GetString(2), r.GetString(3)), r.GetBoolean(4)));
        return edges;
    }

    /// <summary>Foreign keys from <paramref name="child"/> to other tables: columns on both sides, in order.</summary>
    public static async Task<List<ForeignKey>> ForeignKeysFromAsync(NpgsqlConnection c, TableName child, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT k.conname::text, pn.nspname::text, pc.relname::text,
                   ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY AS u (n, o)
                         JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.o),
                   ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY AS u (n, o)
                         JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.o),
                   k.confdeltype IN ('a', 'r')
            FROM pg_constraint k
            JOIN pg_class pc ON pc.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
            WHERE k.contype = 'f' AND k.conrelid = to_regclass($1) AND k.conrelid <> k.confrelid
            ORDER BY 1
            """, c);
        cmd.Parameters.AddWithValue(Quote.Qualified(child));
        var keys = new List<ForeignKey>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            keys.Add(new ForeignKey(r.GetString(0), child, new TableName(r.GetString(1), r.GetString(2)),
                r.GetFieldValue<string[]>(3), r.GetFieldValue<string[]>(4), r.GetBoolean(5)));
        return keys;
    }
}

/// <summary>A foreign key; <see cref="Restricts"/> when deleting a referenced parent fails instead of cascading.</summary>
public sealed record ForeignKey(string Name, TableName Child, TableName Parent, IReadOnlyList<string> ChildColumns,
    IReadOnlyList<string> ParentColumns, bool Restricts);
