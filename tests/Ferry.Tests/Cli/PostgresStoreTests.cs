using System.Text.Json;
using Ferry.Local;
using Ferry.Tests.Harness;
using Npgsql;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>
/// The control store in PostgreSQL (`ferry install dbname=…`, FERRY_STORE, `ferry store move`): every command works on
/// it as on the SQLite file, a second home shares it, and no other role can read it.
/// </summary>
[Collection("servers")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PostgresStoreTests(ServerFixture servers)
{
    [Fact]
    public async Task a_relay_runs_from_a_postgresql_store_that_a_second_home_shares_and_no_other_role_reads()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_relay_runs_from_a_postgresql_store_that_a_second_home_shares_and_no_other_role_reads),
            "CREATE TABLE items (id int PRIMARY KEY, v text)", ["public.items"]);
        var s = servers[0];
        // The store in a replicated database, as the replicating role; the password from the environment, not stored.
        t.Cli.Environment["PGPASSWORD"] = RestrictedRole.Password;
        var install = await t.Cli.OkAsync("install", $"--dbname={t.Database}", $"--dbhost={s.Host}", $"--dbport={s.Port}",
            $"--dbuser={RestrictedRole.User}");
        Assert.Contains("PostgreSQL", install.Out, StringComparison.Ordinal);
        var pointer = Path.Combine(t.Cli.Home, "store.conf");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(pointer));
        Assert.DoesNotContain(RestrictedRole.Password, await File.ReadAllTextAsync(pointer), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(t.Cli.Home, "ferry.db")));

        await t.AddDatabasesAsync(2); // install again (up to date), then add database … pass=…

        // A newer ferry's table, met by three commands at once: the advisory lock lets one create it, and all go on.
        await s.ExecuteAsync(t.Database, "DROP TABLE ferry_control.pair_lag; DELETE FROM ferry_control.meta WHERE key = 'control_sql'", default);
        await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => t.Cli.OkAsync("list", "syncs")));
        Assert.Equal("0", await s.ScalarAsync<string>(t.Database, "SELECT count(*)::text FROM ferry_control.pair_lag", default));
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:source");
        await t.Cli.OkAsync("add", "all", "tables", "herd=h");
        // The store's own tables sit in db1 too, and are no application's.
        var tables = (await t.Cli.OkAsync("list", "tables")).Out;
        Assert.Contains("\"public\".\"items\"", tables, StringComparison.Ordinal);
        Assert.DoesNotContain("ferry_control", tables, StringComparison.Ordinal);
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO items VALUES (1, 'from db1')");
        await t.ExecAsync(1, "INSERT INTO items VALUES (2, 'from db2')");
        await t.ConvergedAsync("public.items", [0, 1]);
        Assert.Equal("2", await t.ScalarAsync<string>(1, "SELECT count(*)::text FROM items"));
        await Eventually.UntilAsync(async () =>
        {
            using var doc = JsonDocument.Parse((await t.Cli.OkAsync("status", "--json")).Out);
            return doc.RootElement.GetProperty("pairs").EnumerateArray()
                .Select(p => $"{p.GetProperty("source").GetString()}->{p.GetProperty("target").GetString()}").Order().ToList();
        }, pairs => pairs.SequenceEqual(["db1->db2", "db2->db1"]), TimeSpan.FromSeconds(20), "both pairs in status --json");
        Assert.Contains($"Store: PostgreSQL {RestrictedRole.User}@{s.Host}:{s.Port}/{t.Database}, schema ferry_control",
            (await t.Cli.OkAsync("status")).Out, StringComparison.Ordinal);

        // A second relay host: FERRY_STORE names the same store, and it sees the same configuration.
        using var second = new FerryCli();
        second.Environment["FERRY_STORE"] = $"postgresql://{RestrictedRole.User}@{s.Host}:{s.Port}/{t.Database}";
        second.Environment["PGPASSWORD"] = RestrictedRole.Password;
        Assert.Equal((await t.Cli.OkAsync("list", "all")).Out, (await second.OkAsync("list", "all")).Out);

        // The passwords given with pass= are there: no other ordinary role may read them.
        var denied = await Assert.ThrowsAsync<PostgresException>(() => t.ScalarAsync<string>(0, "SELECT password FROM ferry_control.databases LIMIT 1"));
        Assert.Equal("42501", denied.SqlState);

        await t.Cli.OkAsync("stop");
        await second.OkAsync("remove", "sync", "s");
        Assert.DoesNotContain("s", (await t.Cli.OkAsync("list", "syncs")).Out.Split('\n').Select(l => l.Trim()));
    }

    [Fact]
    public async Task move_carries_a_populated_sqlite_store_over_and_the_relay_goes_on_from_it()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(move_carries_a_populated_sqlite_store_over_and_the_relay_goes_on_from_it),
            "CREATE TABLE items (id int PRIMARY KEY, v text)", ["public.items"]);
        await t.AddDatabasesAsync(2);
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:target");
        await t.Cli.OkAsync("add", "all", "tables", "herd=h");
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO items VALUES (1, 'before the move')");
        await t.ConvergedAsync("public.items", [0, 1]);
        var before = (await t.Cli.OkAsync("list", "all")).Out;

        var s = servers[2];
        string[] keys = [$"dbname={t.Database}", $"host={s.Host}", $"port={s.Port}", $"user={RestrictedRole.User}", "schema=moved_store"];
        t.Cli.Environment["PGPASSWORD"] = RestrictedRole.Password;
        Refusal.AssertRefused(await t.Cli.RunAsync(["store", "move", .. keys]), Refusal.Failure, "store move while the relay runs", "ferry stop");
        await t.Cli.OkAsync("stop");
        var move = await t.Cli.OkAsync(["store", "move", .. keys]);
        Assert.Contains("2 databases", move.Out, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(t.Cli.Home, "ferry.db")));
        Assert.True(File.Exists(Path.Combine(t.Cli.Home, "ferry.db.moved")));

        Assert.Equal(before, (await t.Cli.OkAsync("list", "all")).Out);
        Assert.Contains("schema moved_store", (await t.Cli.OkAsync("status")).Out, StringComparison.Ordinal);
        Refusal.AssertRefused(await t.Cli.RunAsync(["store", "move", .. keys]), Refusal.Failure, "a second move", "already uses");

        // The relay goes on from the moved store: its history (copied row ids) takes new lines.
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO items VALUES (2, 'after the move')");
        await t.ConvergedAsync("public.items", [0, 1]);
        Assert.Equal("2", await t.ScalarAsync<string>(1, "SELECT count(*)::text FROM items"));
    }

    [Fact]
    public async Task a_store_address_ferry_cannot_read_stops_every_verb_without_showing_its_password()
    {
        using var cli = new FerryCli();
        cli.Environment["FERRY_STORE"] = "postgresql://ferry_ctl:hunter2@db.example.com/ops?colour=blue";
        var r = await cli.RunAsync("list", "all");
        Refusal.AssertRefused(r, Refusal.Usage, "a FERRY_STORE with an unknown key", "FERRY_STORE", "colour");
        Assert.DoesNotContain("hunter2", r.All, StringComparison.Ordinal);
        cli.Environment["FERRY_STORE"] = "host=db.example.com user=ferry_ctl";
        Refusal.AssertRefused(await cli.RunAsync("status"), Refusal.Usage, "a FERRY_STORE without a database", "FERRY_STORE", "dbname=");
    }

    [Fact]
    public async Task a_store_whose_link_resets_every_connection_for_a_while_is_retried_and_the_command_succeeds()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_store_whose_link_resets_every_connection_for_a_while_is_retried_and_the_command_succeeds),
            "SELECT 1", []);
        await using var proxy = FaultProxy.Start(servers[1]);
        t.Cli.Environment["PGPASSWORD"] = RestrictedRole.Password;
        await t.Cli.OkAsync("install", $"dbname={t.Database}", $"host={proxy.Host}", $"port={proxy.Port}", $"user={RestrictedRole.User}");
        await t.Cli.OkAsync("add", "herd", "h");
        // Longer than the CLI takes to start, shorter than the store's retries (about 6 to 10 s in all).
        proxy.RefuseFor(TimeSpan.FromSeconds(4));
        Assert.Matches(@"(?m)^h\s", (await t.Cli.OkAsync("list", "herds")).Out);
        Assert.True(proxy.ConnectionsRefused > 0, "the store's link refused no connection: the retry was not exercised");
    }
}
