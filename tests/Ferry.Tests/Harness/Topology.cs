using Ferry.Local;
using Npgsql;

namespace Ferry.Tests.Harness;

/// <summary>
/// One database per server, named after the test, with the same schema on each, owned by app_owner, written by
/// app_writer, replicated by ferry_repl with exactly DESIGN.md's grants; and a ferry CLI with its own home.
/// </summary>
public sealed class Topology : IAsyncDisposable
{
    private Topology(ServerFixture servers, string database)
    {
        Servers = servers;
        Database = database;
    }

    public ServerFixture Servers { get; }

    public string Database { get; }

    public FerryCli Cli { get; } = new();

    public static string NodeName(int server) => $"db{server + 1}";

    /// <summary>Creates the databases, runs <paramref name="schemaSql"/> as app_owner on each, and grants the tables.</summary>
    public static async Task<Topology> CreateAsync(ServerFixture servers, string testName, string schemaSql,
        IEnumerable<string> quotedTables, CancellationToken ct = default)
    {
        var db = await servers.CreateDatabasesAsync(testName, ct);
        var t = new Topology(servers, db);
        var tables = quotedTables.ToList();
        foreach (var s in servers.Servers)
        {
            await s.ExecuteAsync(db, $"SET ROLE {RestrictedRole.Owner}; {schemaSql}; RESET ROLE;", ct);
            await RestrictedRole.GrantTablesAsync(s, db, tables, ct);
        }
        return t;
    }

    /// <summary>`ferry install` and `ferry add database` for each server, as db1, db2, db3.</summary>
    public async Task AddDatabasesAsync(int count = 3)
    {
        await Cli.OkAsync("install");
        for (var i = 0; i < count; i++)
        {
            var s = Servers[i];
            await Cli.OkAsync("add", "database", NodeName(i), $"dbname={Database}", $"host={s.Host}", $"port={s.Port}",
                $"user={RestrictedRole.User}", $"pass={RestrictedRole.Password}");
        }
    }

    /// <summary>A connection as the application's role, which has no rights on schema ferry.</summary>
    public async Task<NpgsqlConnection> AppAsync(int server)
    {
        var c = new NpgsqlConnection(RestrictedRole.ConnectionString(Servers[server], Database, RestrictedRole.Writer, RestrictedRole.WriterPassword));
        await c.OpenAsync();
        return c;
    }

    public async Task ExecAsync(int server, string sql, params object[] args)
    {
        await using var c = await AppAsync(server);
        await using var cmd = new NpgsqlCommand(sql, c);
        foreach (var a in args) cmd.Parameters.AddWithValue(a);
        await cmd.ExecuteNonQueryAsync();
    }

    public async Task<T> ScalarAsync<T>(int server, string sql)
    {
        await using var c = await AppAsync(server);
        await using var cmd = new NpgsqlCommand(sql, c);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    /// <summary>A table's whole content as text, ordered, to compare databases exactly.</summary>
    public Task<string> DumpAsync(int server, string quotedTable) =>
        ScalarAsync<string>(server, $"SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM {quotedTable} t");

    /// <summary>Polls until every listed server holds what server 0 holds, or fails with both contents.</summary>
    public async Task ConvergedAsync(string quotedTable, int[] servers, TimeSpan? timeout = null)
    {
        await Eventually.UntilAsync(async () =>
        {
            var dumps = new List<string>();
            foreach (var s in servers) dumps.Add(await DumpAsync(s, quotedTable));
            return dumps.Distinct().Count() == 1 ? "same" : string.Join("\n=====\n", dumps);
        }, v => v == "same", timeout ?? TimeSpan.FromSeconds(30), $"{quotedTable} to converge on servers {string.Join(",", servers)}");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Cli.RunAsync("stop");
        }
        finally
        {
            Cli.Dispose();
            // Idle pooled connections to this test's databases would otherwise stay open for minutes on servers every
            // test class shares, until one runs out of slots (53300). Connections in use close when returned.
            NpgsqlConnection.ClearAllPools();
        }
    }
}
