using System.Globalization;
using Ferry.Postgres;
using Npgsql;
using NpgsqlTypes;

namespace Ferry.ControlStore;

/// <summary>`ferry store move`: every row of a SQLite store into a new PostgreSQL store, in one transaction.</summary>
public sealed partial class Store
{
    /// <summary>
    /// Copies every table of the SQLite store at <paramref name="sqlitePath"/>, by column name, into the PostgreSQL
    /// store at <paramref name="target"/> (created if missing), which must hold no configuration yet. All or nothing:
    /// one transaction on the target; the SQLite file is only read.
    /// </summary>
    /// <returns>each table and the rows it received</returns>
    public static async Task<List<(string Table, long Rows)>> MoveAsync(string sqlitePath, StoreAddress target, CancellationToken ct)
    {
        using var from = await OpenAsync(StoreAddress.Sqlite(sqlitePath), ct);
        using var to = await CreateAsync(target, ct);
        var pg = (PostgresBackend)to._backend;
        // Creation order: a table another references was created before it, so parents are filled first.
        var tables = await from.QueryAsync(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY rowid", r => r.GetString(0), ct);
        var rows = new Dictionary<string, (List<string> Columns, List<object?[]> Rows)>();
        foreach (var table in tables)
        {
            var columns = await from.QueryAsync("SELECT name FROM pragma_table_info($t)", r => r.GetString(0), ct, ("$t", table));
            var data = await from.QueryAsync($"SELECT * FROM \"{table.Replace("\"", "\"\"", StringComparison.Ordinal)}\"", r =>
            {
                var values = new object?[r.FieldCount];
                for (var i = 0; i < r.FieldCount; i++) values[i] = r.IsDBNull(i) ? null : r.GetValue(i);
                return values;
            }, ct);
            rows[table] = (columns, data);
        }
        var moved = new List<(string, long)>();
        await to.InTransactionAsync(async tx =>
        {
            moved.Clear();
            var c = (NpgsqlConnection)tx.Connection!;
            foreach (var table in tables)
            {
                var (sqliteColumns, data) = rows[table];
                var pgColumns = await ColumnsAsync(c, pg.Schema, table, ct);
                if (pgColumns.Count == 0)
                    throw new FerryException($"The PostgreSQL store has no table {table}, which the SQLite store has: it was made by " +
                                             "another ferry version. Run the move with the ferry that made the SQLite store.");
                await RefuseFilledAsync(c, table, data, sqliteColumns, ct);
                var columns = sqliteColumns.Where(pgColumns.ContainsKey).ToList();
                var indexes = columns.Select(name => sqliteColumns.IndexOf(name)).ToList();
                await using (var import = await c.BeginBinaryImportAsync(
                                 $"COPY {Quote.Ident(table)} ({Quote.List(columns)}) FROM STDIN (FORMAT binary)", ct))
                {
                    foreach (var row in data)
                    {
                        await import.StartRowAsync(ct);
                        for (var i = 0; i < columns.Count; i++)
                        {
                            if (row[indexes[i]] is not { } v) await import.WriteNullAsync(ct);
                            else await WriteAsync(import, v, pgColumns[columns[i]].Type, table, columns[i], ct);
                        }
                    }
                    moved.Add((table, (long)await import.CompleteAsync(ct)));
                }
                // A row id copied as it was leaves the identity behind it: the next history line would collide.
                foreach (var (column, _) in pgColumns.Where(p => p.Value.Identity && columns.Contains(p.Key)))
                {
                    await using var setval = new NpgsqlCommand(
                        $"SELECT setval(pg_get_serial_sequence(@t, @c), (SELECT coalesce(max({Quote.Ident(column)}), 0) + 1 FROM {Quote.Ident(table)}), false)", c);
                    setval.Parameters.AddWithValue("t", Quote.Qualified(pg.Schema, table));
                    setval.Parameters.AddWithValue("c", column);
                    await setval.ExecuteNonQueryAsync(ct);
                }
            }
        }, ct);
        return moved;
    }

    /// <summary>
    /// A fresh store holds only its own meta keys; those the SQLite store also has are replaced by its. Any other row
    /// means configuration is there already, which a move must not mix with another's.
    /// </summary>
    private static async Task RefuseFilledAsync(NpgsqlConnection c, string table, List<object?[]> data, List<string> columns, CancellationToken ct)
    {
        if (table == "meta")
        {
            var keys = data.Select(r => Convert.ToString(r[columns.IndexOf("key")], CultureInfo.InvariantCulture)!).ToArray();
            await using var delete = new NpgsqlCommand("DELETE FROM meta WHERE key = ANY(@k)", c);
            delete.Parameters.AddWithValue("k", keys);
            await delete.ExecuteNonQueryAsync(ct);
            return;
        }
        await using var count = new NpgsqlCommand($"SELECT count(*) FROM {Quote.Ident(table)}", c);
        if ((long)(await count.ExecuteScalarAsync(ct))! > 0)
            throw new FerryException($"The PostgreSQL store already holds rows in {table}: it is in use. Move into a new schema " +
                                     "(schema=NAME), or point this FERRY_HOME at that store with ferry install and its keys.");
    }

    private static async Task<Dictionary<string, (string Type, bool Identity)>> ColumnsAsync(NpgsqlConnection c, string schema, string table,
        CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT column_name::text, data_type::text, is_identity::text = 'YES'
            FROM information_schema.columns WHERE table_schema = @s AND table_name = @t
            """, c);
        cmd.Parameters.AddWithValue("s", schema);
        cmd.Parameters.AddWithValue("t", table);
        var columns = new Dictionary<string, (string, bool)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) columns[r.GetString(0)] = (r.GetString(1), r.GetBoolean(2));
        return columns;
    }

    /// <summary>SQLite's loose values (any column may hold any type) as the PostgreSQL column's type.</summary>
    private static Task WriteAsync(NpgsqlBinaryImporter import, object v, string type, string table, string column, CancellationToken ct)
    {
        var inv = CultureInfo.InvariantCulture;
        try
        {
            return type switch
            {
                "bigint" => import.WriteAsync(Convert.ToInt64(v, inv), NpgsqlDbType.Bigint, ct),
                "integer" => import.WriteAsync(Convert.ToInt32(v, inv), NpgsqlDbType.Integer, ct),
                "double precision" => import.WriteAsync(Convert.ToDouble(v, inv), NpgsqlDbType.Double, ct),
                "text" => import.WriteAsync(Convert.ToString(v, inv)!, NpgsqlDbType.Text, ct),
                _ => throw new FerryException($"Column {table}.{column} has type {type} in the PostgreSQL store, which a move does not carry."),
            };
        }
        catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException)
        {
            throw new FerryException($"The SQLite store's {table}.{column} holds '{v}', which is no {type}: correct that row, then move again.", e);
        }
    }
}
