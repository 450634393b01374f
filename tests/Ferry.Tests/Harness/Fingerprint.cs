using Npgsql;

namespace Ferry.Tests.Harness;

/// <summary>
/// Exact comparisons of what databases hold. A row's text form is its byte-exact value for every type (numeric
/// digits, jsonb order, timestamptz to the microsecond), so md5 of <c>t::text</c> compares rows without shipping
/// them; bytea too large to render as hex is compared by md5 of its bytes instead.
/// </summary>
public static class Fingerprint
{
    /// <summary>One md5 per row, sorted, joined: equal strings mean equal tables. Columns may be a projection.</summary>
    public static string RowsSql(string quotedTable, string row = "t::text") =>
        $"SELECT count(*) || ' rows: ' || coalesce(string_agg(md5({row}), ',' ORDER BY md5({row})), '') FROM {quotedTable} t";

    /// <summary>
    /// <see cref="RowsSql"/> by column name: the given columns in name order, so databases that hold them in another
    /// physical order, or hold more columns, compare alike.
    /// </summary>
    public static string ByNameSql(string quotedTable, params string[] columns) =>
        RowsSql(quotedTable, "ROW(" + string.Join(", ", columns.Order(StringComparer.Ordinal)
            .Select(c => "t.\"" + c.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"")) + ")::text");

    /// <summary>Every ferry.rv_* table of a database, ordered, as superuser (the application cannot read them).</summary>
    public static async Task<string> RowVersionsAsync(Topology t, int server)
    {
        await using var c = new NpgsqlConnection(t.Servers[server].AdminConnectionString(t.Database));
        await c.OpenAsync();
        var tables = new List<string>();
        await using (var list = new NpgsqlCommand(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = 'ferry' " +
            "AND tablename LIKE 'rv\\_%' ORDER BY 1", c))
        await using (var r = await list.ExecuteReaderAsync())
            while (await r.ReadAsync()) tables.Add(r.GetString(0));
        var parts = new List<string>();
        foreach (var table in tables)
        {
            await using var dump = new NpgsqlCommand(
                $"SELECT coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '') FROM {table} r", c);
            parts.Add(table + "\n" + await dump.ExecuteScalarAsync());
        }
        return string.Join("\n\n", parts);
    }

    /// <summary>
    /// Runs a fingerprint query as the application role, with the output settings pinned: databases may differ in
    /// DateStyle or IntervalStyle, and equal values must still print alike.
    /// </summary>
    public static async Task<string> OfAsync(Topology t, int server, string sql)
    {
        var b = new NpgsqlConnectionStringBuilder(RestrictedRole.ConnectionString(t.Servers[server], t.Database,
            RestrictedRole.Writer, RestrictedRole.WriterPassword))
        {
            Options = "-c DateStyle=ISO,MDY -c IntervalStyle=postgres -c extra_float_digits=3 -c TimeZone=UTC " +
                      "-c bytea_output=hex",
        };
        await using var c = new NpgsqlConnection(b.ConnectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        return (string)(await cmd.ExecuteScalarAsync())!;
    }

    /// <summary>Polls until every listed server gives server <paramref name="servers"/>[0]'s answer to each query.</summary>
    public static async Task ConvergedAsync(Topology t, IReadOnlyList<string> queries, int[] servers, TimeSpan timeout)
    {
        await Eventually.UntilAsync(async () =>
        {
            var differences = new List<string>();
            foreach (var q in queries)
            {
                var expected = await OfAsync(t, servers[0], q);
                foreach (var s in servers.Skip(1))
                {
                    var actual = await OfAsync(t, s, q);
                    if (actual != expected)
                        differences.Add($"{q}\n  server {servers[0]}: {Shorten(expected)}\n  server {s}: {Shorten(actual)}");
                }
            }
            return differences;
        }, d => d.Count == 0, timeout, "every table to converge");
    }

    private static string Shorten(string s) => s.Length > 300 ? s[..300] + "…" : s;
}
