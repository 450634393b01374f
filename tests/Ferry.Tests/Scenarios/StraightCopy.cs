using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// On a replica of one master, a large slice's rows are copied straight into the table; whatever refuses that (a row
/// already there, deletes among the entries, a constraint) is rolled back and applied the usual way, losing nothing.
/// One pair at a time through `ferry debug run-once`, so every batch is known.
/// </summary>
[Collection("scenario-servers")]
public sealed class StraightCopy(ServerFixture servers)
{
    private const string Schema = """
        CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty numeric(12,2), CHECK (qty >= 0));
        """;

    private const int Large = 12_000; // above PairRunner.DirectMinRows

    [Fact]
    public async Task large_slices_go_straight_in_and_anything_refused_takes_the_usual_way()
    {
        Assert.True(Large >= Ferry.Relay.PairRunner.DirectMinRows);
        await using var t = await Topology.CreateAsync(servers, nameof(large_slices_go_straight_in_and_anything_refused_takes_the_usual_way),
            Schema, ["public.items"]);
        await t.OneSourceTwoTargetsAsync();
        string[] runOnce = ["debug", "run-once", "s", "db1", "db2"];
        await t.Cli.OkAsync(runOnce); // the first snapshot

        // New rows only: straight in.
        await t.ExecAsync(0, $"INSERT INTO items SELECT g, 'item ' || g, g FROM generate_series(1, {Large}) g");
        var first = await t.Cli.OkAsync(runOnce);
        Assert.Contains($"{Large} rows copied straight in", first.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("refused", first.Out, StringComparison.Ordinal);
        Assert.Equal(await t.DumpAsync(0, "items"), await t.DumpAsync(1, "items"));

        // Updates of rows the replica holds, with new rows: the replica has the sampled key (the latest entry, an
        // update), so the chunk is upserted at once, with no straight COPY to refuse.
        await t.ExecAsync(0, $"UPDATE items SET name = name || ' changed' WHERE id % 2 = 0");
        await t.ExecAsync(0, $"INSERT INTO items SELECT g, 'item ' || g, g FROM generate_series({Large + 1}, {Large + 5000}) g");
        var updated = await t.Cli.OkAsync(runOnce);
        Assert.DoesNotContain("refused", updated.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("copied straight in", updated.Out, StringComparison.Ordinal);
        Assert.Equal(await t.DumpAsync(0, "items"), await t.DumpAsync(1, "items"));

        // New rows and deletes of some of them in one batch: the replica has none of them, so the straight COPY is
        // tried, and the deletes have no row to copy, so the count comes up short.
        await t.ExecAsync(0, $"INSERT INTO items SELECT g, 'item ' || g, g FROM generate_series({Large + 5001}, {2 * Large + 5000}) g");
        await t.ExecAsync(0, $"DELETE FROM items WHERE id BETWEEN {Large + 5001} AND {Large + 5010}");
        var deleted = await t.Cli.OkAsync(runOnce);
        Assert.Contains("1 straight copies refused", deleted.Out, StringComparison.Ordinal);
        Assert.Equal(await t.DumpAsync(0, "items"), await t.DumpAsync(1, "items"));

        // A row the replica holds on its own is in the way of one new key: refused, then upserted over it.
        await servers[1].ExecuteAsync(t.Database, $"INSERT INTO items VALUES ({3 * Large}, 'local to db2', 1)", default);
        await t.ExecAsync(0, $"INSERT INTO items SELECT g, 'item ' || g, g FROM generate_series({2 * Large + 5001}, {3 * Large + 5000}) g");
        var local = await t.Cli.OkAsync(runOnce);
        Assert.Contains("1 straight copies refused", local.Out, StringComparison.Ordinal);
        Assert.Equal(await t.DumpAsync(0, "items"), await t.DumpAsync(1, "items"));

        // db3 has been waiting all along: one batch with everything, nothing lost.
        var behind = await t.Cli.OkAsync("debug", "run-once", "s", "db1", "db3");
        Assert.DoesNotContain(": 0 rows", behind.Out, StringComparison.Ordinal);
        Assert.Equal(await t.DumpAsync(0, "items"), await t.DumpAsync(2, "items"));
        Assert.Equal(0L, await servers[1].ScalarAsync<long>(t.Database, "SELECT count(*) FROM ferry.conflicts", default));
    }
}
