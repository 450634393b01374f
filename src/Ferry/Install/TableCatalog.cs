using Ferry.Postgres;
using Npgsql;

namespace Ferry.Install;

/// <summary>Reads tables from a database's catalog: their shape, their keys, who references whom.</summary>
public static class TableCatalog
{
    /// <summary>The table's shape, or null when it does not exist (or this role cannot see it).</summary>
    public static async Task<TableShape?> ReadAsync(NpgsqlConnection c, TableName table, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT a.attname::text,
                   format_type(a.atttypid, a.atttypmod),
                   coalesce(array_position(i.indkey::int2[], a.attnum) + 1 - array_lower(i.indkey::int2[], 1), 0) AS key_position,
                   a.atttypid < 16384 AS builtin,
                   a.attidentity = 'a' AS identity_always
            FROM pg_attribute a
            LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
            WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            ORDER BY a.attnum
            """, c);
        cmd.Parameters.AddWithValue(Quote.Qualified(table));
        var columns = new List<Column>();
        var keys = new List<(int Position, string Name)>();
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            while (await r.ReadAsync(ct))
            {
                var keyPosition = r.GetInt32(2);
                columns.Add(new Column(r.GetString(0), r.GetString(1), keyPosition > 0, r.GetBoolean(3), r.GetBoolean(4)));
                if (keyPosition > 0) keys.Add((keyPosition, r.GetString(0)));
            }
        }
        if (columns.Count == 0)
        {
            await using var exists = new NpgsqlCommand("SELECT to_regclass($1) IS NOT NULL", c);
            exists.Parameters.AddWithValue(Quote.Qualified(table));
            if (!(bool)(await exists.ExecuteScalarAsync(ct))!) return null;
        }
        return new TableShape(table, columns, keys.OrderBy(k => k.Position).Select(k => k.Name).ToList());
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
        await using var cmd = new NpgsqlCommand("""
            SELECT cn.nspname::text, cc.relname::text, pn.nspname::text, pc.relname::text, k.condeferrable
            FROM pg_constraint k
            JOIN pg_class cc ON cc.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace
            JOIN pg_class pc ON pc.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
            WHERE k.contype = 'f' AND k.conrelid <> k.confrelid
              AND k.conrelid = ANY (SELECT to_regclass(x) FROM unnest($1::text[]) AS x)
            """, c);
        cmd.Parameters.AddWithValue(tables.Select(Quote.Qualified).ToArray());
        var edges = new List<(TableName, TableName, bool)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            edges.Add((new TableName(r.GetString(0), r.GetString(1)), new TableName(r.GetString(2), r.GetString(3)), r.GetBoolean(4)));
        return edges;
    }
}
