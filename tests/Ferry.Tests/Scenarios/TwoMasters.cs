using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>The topology people run: two writable masters and a read replica.</summary>
[Collection("scenario-servers")]
public sealed class TwoMasters(ServerFixture servers)
{
    private const string Schema = "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, city text)";

    private static async Task<Topology> StartAsync(ServerFixture servers, string name, string capture = "trigger")
    {
        var t = await Topology.CreateAsync(servers, name, Schema, ["public.customers"], capture: capture);
        await t.TwoMastersAndReplicaAsync();
        await t.Cli.OkAsync("start");
        return t;
    }

    [Fact]
    public async Task the_later_of_two_conflicting_edits_wins_everywhere_and_is_recorded()
    {
        // Under WAL capture the same is Scenarios/WalCapture's masters test.
        await using var t = await StartAsync(servers, nameof(the_later_of_two_conflicting_edits_wins_everywhere_and_is_recorded));
        await t.ExecAsync(0, "INSERT INTO customers VALUES (1, 'alice', 'nowhere')");
        await t.ConvergedAsync("customers", [0, 1, 2]);

        await t.Cli.OkAsync("stop");
        await t.ExecAsync(0, "UPDATE customers SET city = 'office edit' WHERE id = 1");
        await t.ExecAsync(1, "UPDATE customers SET city = 'cloud edit, later' WHERE id = 1");
        await t.Cli.OkAsync("start");

        await t.ConvergedAsync("customers", [0, 1, 2]);
        Assert.Equal("cloud edit, later", await t.ScalarAsync<string>(2, "SELECT city FROM customers WHERE id = 1"));
        var conflicts = await t.Cli.OkAsync("conflicts", "--json");
        Assert.Contains("\"winner\": \"db2\"", conflicts.Out);
    }

    [Theory]
    [InlineData("trigger")]
    [InlineData("wal")]
    public async Task writes_on_both_masters_reach_every_database_without_echo(string capture)
    {
        await using var t = await StartAsync(servers, nameof(writes_on_both_masters_reach_every_database_without_echo), capture);
        await Task.WhenAll(
            t.ExecAsync(0, "INSERT INTO customers SELECT g, 'a' || g, 'office' FROM generate_series(1, 1000, 2) g"),
            t.ExecAsync(1, "INSERT INTO customers SELECT g, 'b' || g, 'cloud' FROM generate_series(2, 1000, 2) g"));
        await t.ConvergedAsync("customers", [0, 1, 2]);
        await t.ExecAsync(1, "UPDATE customers SET name = name || '!' WHERE id % 10 = 1");
        await t.ExecAsync(0, "DELETE FROM customers WHERE id % 10 = 2");
        await t.ConvergedAsync("customers", [0, 1, 2]);
        Assert.Equal(900L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM customers"));
        var conflicts = await t.Cli.OkAsync("conflicts");
        Assert.Contains("No conflicts recorded.", conflicts.Out);
    }

    [Fact]
    public async Task adding_a_two_master_sync_prints_the_sql_that_interleaves_key_sequences()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(adding_a_two_master_sync_prints_the_sql_that_interleaves_key_sequences),
            "CREATE TABLE notes (id serial PRIMARY KEY, body text)", ["public.notes"]);
        await t.ExecAsync(0, "INSERT INTO notes (body) SELECT 'n' FROM generate_series(1, 7)");
        await t.AddDatabasesAsync();
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:source", "db3:target");
        await t.Cli.OkAsync("add", "all", "tables", "herd=h");
        var added = await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
        Assert.Contains("-- on db1:", added.Out);
        Assert.Contains("ALTER SEQUENCE public.notes_id_seq INCREMENT BY 2 RESTART WITH 9;", added.Out);
        Assert.Contains("ALTER SEQUENCE public.notes_id_seq INCREMENT BY 2 RESTART WITH 8;", added.Out);
    }

    [Fact]
    public async Task a_table_can_follow_its_own_conflict_rule()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_table_can_follow_its_own_conflict_rule), Schema, ["public.customers"]);
        await t.AddDatabasesAsync();
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:source", "db3:target");
        await t.Cli.OkAsync("add", "table", "customers", "herd=h");
        await t.Cli.OkAsync("add", "table", "customers", "herd=h", "conflict_strategy=source");
        Assert.Contains("source", (await t.Cli.OkAsync("list", "tables")).Out);
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g", "conflict_strategy=latest");
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO customers VALUES (1, 'alice', 'nowhere')");
        await t.ConvergedAsync("customers", [0, 1, 2]);

        // Under `source`, db1 (first in the dbgroup) wins the conflict although db2's edit is later.
        await t.Cli.OkAsync("stop");
        await t.ExecAsync(0, "UPDATE customers SET city = 'db1 edit' WHERE id = 1");
        await t.ExecAsync(1, "UPDATE customers SET city = 'db2 edit, later' WHERE id = 1");
        await t.Cli.OkAsync("start");
        await t.ConvergedAsync("customers", [0, 1, 2]);
        Assert.Equal("db1 edit", await t.ScalarAsync<string>(2, "SELECT city FROM customers WHERE id = 1"));
        Assert.Contains("\"rule\": \"source\"", (await t.Cli.OkAsync("conflicts", "--json")).Out);
    }
}
