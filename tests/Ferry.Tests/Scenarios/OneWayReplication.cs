using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>The Bucardo seed sequence through the CLI, as the restricted role, one source and two targets.</summary>
[Collection("scenario-servers")]
public sealed class OneWayReplication(ServerFixture servers)
{
    private const string Schema = """
        CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty numeric(12,2));
        """;

    [Fact]
    public async Task inserts_updates_deletes_and_truncates_reach_every_target()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(inserts_updates_deletes_and_truncates_reach_every_target),
            Schema, ["public.items"]);
        await t.AddDatabasesAsync();
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:target", "db3:target");
        await t.Cli.OkAsync("add", "all", "tables", "herd=h");
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
        await t.Cli.OkAsync("start");

        await t.ExecAsync(0, "INSERT INTO items SELECT g, 'item ' || g, g * 1.5 FROM generate_series(1, 500) g");
        await t.ConvergedAsync("items", [0, 1, 2]);

        await t.ExecAsync(0, "UPDATE items SET name = name || ' (changed)' WHERE id % 3 = 0");
        await t.ExecAsync(0, "UPDATE items SET id = id + 10000 WHERE id <= 10");
        await t.ExecAsync(0, "DELETE FROM items WHERE id BETWEEN 100 AND 150");
        await t.ConvergedAsync("items", [0, 1, 2]);
        Assert.Equal(449L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM items"));
        // Replicas of one master are plain targets: their apply writes rows, never row versions.
        var rv = new Ferry.Capture.CaptureNames(new TableName("public", "items")).RowVersions;
        foreach (var target in new[] { 1, 2 })
            Assert.Equal(0L, await servers[target].ScalarAsync<long>(t.Database, $"SELECT count(*) FROM {rv}", default));
        Assert.NotEqual(0L, await servers[0].ScalarAsync<long>(t.Database, $"SELECT count(*) FROM {rv}", default));

        await t.ExecAsync(0, "TRUNCATE items");
        await t.ExecAsync(0, "INSERT INTO items VALUES (1, 'after truncate', 1)");
        await t.ConvergedAsync("items", [0, 1, 2]);
        Assert.Equal(1L, await t.ScalarAsync<long>(1, "SELECT count(*) FROM items"));

        var status = await t.Cli.OkAsync("status");
        Assert.Contains("db1 -> db2", status.Out);
        Assert.Contains("replicating", status.Out);
    }
}
