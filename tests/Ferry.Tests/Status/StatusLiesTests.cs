using System.Text.Json;
using Ferry.Tests.Harness;
using Xunit;
using Ferry.Local;
using Xunit.Abstractions;

namespace Ferry.Tests.Status;

/// <summary>
/// Status says what holds a pair back, not something near it: a pair waiting for an unfinished copy says so and names
/// the command that finishes it, with every database reachable; a pair whose first read finds nothing pending is
/// replicating at once, not "starting" until its first batch.
/// </summary>
[Collection("servers")]
public sealed class StatusLiesTests(ServerFixture servers, ITestOutputHelper output)
{
    private const string Schema = """
        CREATE TABLE parents (id int PRIMARY KEY, name text NOT NULL);
        CREATE TABLE children (id int PRIMARY KEY, parent int NOT NULL REFERENCES parents (id), note text)
        """;

    [Fact]
    public async Task a_source_reached_again_while_its_pair_waits_for_a_copy_is_shown_reachable_and_the_pair_names_the_copy()
    {
        await using var link = FaultProxy.Start(servers[0], TimeSpan.FromMinutes(5));
        await using var t = await Topology.CreateAsync(servers, nameof(a_source_reached_again_while_its_pair_waits_for_a_copy_is_shown_reachable_and_the_pair_names_the_copy),
            Schema, ["public.parents", "public.children"]);
        await t.AddDatabasesAsync(new Dictionary<int, FaultProxy> { [0] = link });
        await t.ExecAsync(0, """
            INSERT INTO parents SELECT g, 'parent ' || g FROM generate_series(1, 2000) AS g;
            INSERT INTO children SELECT g, 1 + g % 2000, 'child ' || g FROM generate_series(1, 30000) AS g
            """);
        t.Cli.Environment["FERRY_COPY_SLICE_ROWS"] = "100";
        t.Cli.Environment["FERRY_MAX_BACKOFF_SECONDS"] = "1";
        t.Cli.Environment["FERRY_DEAD_LINK_SECONDS"] = "3";
        t.Cli.Environment["FERRY_CONNECT_SECONDS"] = "2";
        // db1 is read only by the pair into db3, whose copy is cut off part-way.
        await t.Cli.OkAsync("add", "sync", "s", "tables=parents,children", "dbs=db1:source,db3:target");
        using (var copy = t.Cli.Start("copy", "s", "to=db3"))
        {
            await Eventually.UntilAsync(async () => await servers[2].ScalarAsync<string>(t.Database,
                    "SELECT coalesce((SELECT value FROM ferry.meta WHERE key = 'copy s from db1'), '')", default) ?? "",
                v => v.Contains("\"Table\":1", StringComparison.Ordinal) && !v.Contains("\"After\":null", StringComparison.Ordinal),
                TimeSpan.FromSeconds(60), "the copy to be part-way through the children");
            copy.Kill(entireProcessTree: true);
            await copy.WaitForExitAsync();
        }

        // The relay starts while db1 does not answer: db1 is unreachable, truly.
        link.Blackhole = true;
        await t.Cli.OkAsync("start");
        await Eventually.UntilAsync(async () => (await t.DatabaseStatusAsync()).Any(d => d.Name == "db1" && !d.Reachable),
            TimeSpan.FromSeconds(30), "db1 to be shown unreachable while it does not answer");

        // db1 answers again; the pair reaches both ends and waits for the copy. db1 must not stay "unreachable".
        link.Blackhole = false;
        var status = await Eventually.UntilAsync(async () => (await t.Cli.RunAsync("status")).Out,
            o => o.Contains("db1 -> db3  waiting for the copy from db1", StringComparison.Ordinal) && !o.Contains("unreachable", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "db1 reachable again and the pair waiting for the copy");
        Assert.Contains("ferry copy s to=db3 from=db1", status, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse((await t.Cli.OkAsync("status", "--json")).Out);
        Assert.True(doc.RootElement.GetProperty("databases").EnumerateArray().Single(d => d.GetProperty("name").GetString() == "db1")
            .GetProperty("reachable").GetBoolean(), doc.RootElement.ToString());
        var waiting = doc.RootElement.GetProperty("pairs").EnumerateArray().Single();
        Assert.Equal("waiting for the copy from db1", waiting.GetProperty("state").GetString());
        Assert.Contains("ferry copy s to=db3 from=db1", waiting.GetProperty("last_error").GetString());
    }

    [Fact]
    public async Task a_pair_with_nothing_pending_is_replicating_right_after_start()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_pair_with_nothing_pending_is_replicating_right_after_start),
            "CREATE TABLE items (id int PRIMARY KEY)", ["public.items"]);
        // A long poll interval: nothing rings the pair after its first read, so "starting" would stay.
        t.Cli.Environment["FERRY_POLL_SECONDS"] = "600";
        await t.AddDatabasesAsync(2);
        await t.Cli.OkAsync("add", "sync", "s", "tables=items", "dbs=db1:source,db2:target");
        await t.Cli.OkAsync("start");
        var status = await Eventually.UntilAsync(async () => (await t.Cli.RunAsync("status")).Out,
            o => o.Contains("db1 -> db2  replicating", StringComparison.Ordinal), TimeSpan.FromSeconds(15),
            "the idle pair to show replicating");
        output.WriteLine(status);
        Assert.Contains("Sync s: good", status, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse((await t.Cli.OkAsync("status", "--json")).Out);
        var pair = doc.RootElement.GetProperty("pairs").EnumerateArray().Single();
        Assert.Equal("replicating", pair.GetProperty("state").GetString());
        Assert.Equal(0, pair.GetProperty("lag_rows").GetInt64());
    }
}
