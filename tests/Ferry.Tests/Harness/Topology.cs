using Ferry.Local;
using Npgsql;

namespace Ferry.Tests.Harness;

/// <summary>
/// One database per server, named after the test, with the same schema on each, owned by app_owner, written by
/// app_writer, replicated by ferry_repl with exactly DESIGN.md's grants; and a ferry CLI with its own home.
/// </summary>
public sealed class Topology : IAsyncDisposable
{
    private Topology(ServerFixture servers, string database, string capture)
    {
        Servers = servers;
        Database = database;
        Capture = capture;
    }

    /// <summary>How every database captures: "trigger" (the default) or "wal" (a logical slot, no capture triggers).</summary>
    public string Capture { get; }

    /// <summary>The role ferry connects as: with WAL capture, the restricted role plus REPLICATION.</summary>
    public string FerryUser => Capture == "wal" ? RestrictedRole.WalUser : RestrictedRole.User;

    /// <summary>`add database`'s arguments for server <paramref name="i"/>, reached on <paramref name="port"/>.</summary>
    internal string[] DatabaseArguments(int i, int port) =>
    [
        "add", "database", NodeName(i), $"dbname={Database}", $"host={Servers[i].Host}", $"port={port}",
        $"user={FerryUser}", $"pass={RestrictedRole.Password}", $"capture={Capture}",
    ];

    public ServerFixture Servers { get; }

    public string Database { get; }

    public FerryCli Cli { get; } = new();

    public static string NodeName(int server) => $"db{server + 1}";

    /// <summary>
    /// Creates the databases, runs <paramref name="schemaSql"/> as app_owner on each, and grants the tables. With
    /// <paramref name="capture"/> "wal", the tables' owner also publishes them, as the README tells an operator to.
    /// </summary>
    public static async Task<Topology> CreateAsync(ServerFixture servers, string testName, string schemaSql,
        IEnumerable<string> quotedTables, CancellationToken ct = default, string capture = "trigger")
    {
        if (capture is not ("trigger" or "wal")) throw new ArgumentException($"capture is trigger or wal, not {capture}", nameof(capture));
        var db = await servers.CreateDatabasesAsync(capture == "wal" ? testName + "_wal" : testName, ct);
        var t = new Topology(servers, db, capture);
        var tables = quotedTables.ToList();
        foreach (var s in servers.Servers)
        {
            await s.ExecuteAsync(db, $"SET ROLE {RestrictedRole.Owner}; {schemaSql}; RESET ROLE;", ct);
            await RestrictedRole.GrantTablesAsync(s, db, tables, ct);
            if (capture != "wal") continue;
            await RestrictedRole.EnsureWalRoleAsync(s, ct);
            if (tables.Count > 0)
                await s.ExecuteAsync(db, $"SET ROLE {RestrictedRole.Owner}; CREATE PUBLICATION ferry FOR TABLE {string.Join(", ", tables)} " +
                                         "WITH (publish_via_partition_root = true); RESET ROLE", ct);
        }
        return t;
    }

    /// <summary>`ferry install` and `ferry add database` for each server, as db1, db2, db3, capturing as <see cref="Capture"/>.</summary>
    public async Task AddDatabasesAsync(int count = 3)
    {
        await Cli.OkAsync("install");
        for (var i = 0; i < count; i++) await Cli.OkAsync(DatabaseArguments(i, Servers[i].Port));
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

    /// <summary>
    /// A slot keeps WAL on servers every test shares, for the rest of the run: each test drops its own. The relay's
    /// walsender may outlive `ferry stop` by a moment.
    /// </summary>
    private async Task DropSlotsAsync()
    {
        var slots = $"FROM pg_replication_slots WHERE database = '{Database}'";
        foreach (var s in Servers.Servers)
            await Eventually.UntilAsync(async () =>
            {
                await s.ExecuteAsync("postgres", $"SELECT pg_drop_replication_slot(slot_name) {slots} AND NOT active", default);
                return await s.ScalarAsync<long>("postgres", $"SELECT count(*) {slots}", default);
            }, n => n == 0, TimeSpan.FromSeconds(20), $"the replication slots of {Database} on {s.Name} to be dropped");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Cli.RunAsync("stop");
            if (Capture == "wal") await DropSlotsAsync();
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
