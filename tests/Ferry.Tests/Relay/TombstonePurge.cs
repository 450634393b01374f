using Ferry.ControlStore;
using Ferry.Relay;
using Ferry.Tests.Harness;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Ferry.Tests.Relay;

/// <summary>DESIGN hard case: tombstones go once every pair passed them; a pair away longer must be re-copied.</summary>
[Collection("scenario-servers")]
public sealed class TombstonePurge(ServerFixture servers)
{
    private static async Task<long> TombstonesAsync(Topology t, int server) =>
        (await t.Servers[server].ScalarAsync<long>(t.Database,
            "SELECT count(*) FROM ferry.\"" + new Capture.CaptureNames(new TableName("public", "items")).RowVersions.Split("\".\"")[1].TrimEnd('"') +
            "\" r WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.id = r.id)", default));

    [Fact]
    public async Task tombstones_are_purged_after_every_pair_passed_them_and_an_away_pair_is_told_to_recopy()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(tombstones_are_purged_after_every_pair_passed_them_and_an_away_pair_is_told_to_recopy),
            "CREATE TABLE items (id int PRIMARY KEY, name text)", ["public.items"]);
        await t.AddDatabasesAsync(2);
        await t.Cli.OkAsync("add", "sync", "s", "tables=public.items", "dbs=db1:source,db2:target");
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO items SELECT g, 'x' FROM generate_series(1, 100) g");
        await t.ExecAsync(0, "DELETE FROM items WHERE id <= 50");
        await t.ConvergedAsync("items", [0, 1]);
        await t.Cli.OkAsync("stop");
        Assert.Equal(50L, await TombstonesAsync(t, 0));

        using var store = await Store.OpenAsync(Path.Combine(t.Cli.Home, "ferry.db"), default);
        var purger = new TombstonePurger(store, NullLogger.Instance, TimeSpan.Zero);
        // The pair has passed them: with no retention, they go.
        await Eventually.UntilAsync(async () => { await purger.PurgeOnceAsync(default); return await TombstonesAsync(t, 0) == 0; },
            TimeSpan.FromSeconds(20), "tombstones purged");

        // The target then stays away (its progress is old) while more rows are deleted and purged at the source.
        await t.ExecAsync(0, "DELETE FROM items WHERE id <= 60");
        // Folded into the row versions, as another pair's read would: until then the deletes wait in the change log,
        // and reach the pair when it comes back whatever is purged.
        await t.Servers[0].ExecuteAsync(t.Database,
            "SELECT " + Capture.ChangeLog.Folds([new TableName("public", "items")], limited: false).Single(), default);
        await t.Servers[1].ExecuteAsync(t.Database, "UPDATE ferry.progress SET updated_at = now() - interval '1 day'", default);
        await Eventually.UntilAsync(async () => { await purger.PurgeOnceAsync(default); return await TombstonesAsync(t, 0) == 0; },
            TimeSpan.FromSeconds(20), "tombstones purged past the away pair");

        // Back: the pair must not silently skip the deletes it never got.
        await t.Cli.OkAsync("start");
        await Eventually.UntilAsync(async () => (await t.Cli.RunAsync("status")).Out.Contains("re-copy", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "status to ask for a re-copy");
        Assert.Equal(50L, await t.ScalarAsync<long>(1, "SELECT count(*) FROM items"));
        var stopped = (await t.Cli.RunAsync("status")).Out.Split('\n').Single(l => l.StartsWith("db1 -> db2", StringComparison.Ordinal));
        Assert.Contains("(since", stopped, StringComparison.Ordinal);
        Assert.Contains("ferry copy s to=db2 from=db1", stopped, StringComparison.Ordinal);

        // What it asks for, with the relay running: a copy that becomes the pair's new position, and replication
        // goes on from there.
        var copied = await t.Cli.OkAsync("copy", "s", "to=db2", "from=db1");
        Assert.Contains("db2: \"public\".\"items\" copied from db1, 40 rows.", copied.Out, StringComparison.Ordinal);
        Assert.Contains("The relay's pairs into db2 go on from the copy now.", copied.Out, StringComparison.Ordinal);
        await t.ExecAsync(0, "DELETE FROM items WHERE id = 61; INSERT INTO items VALUES (101, 'after the copy')");
        await t.ConvergedAsync("items", [0, 1]);
        Assert.Equal(40L, await t.ScalarAsync<long>(1, "SELECT count(*) FROM items"));
        // The pair recovered: its error is gone, with its "(since ...)".
        var pair = (await t.Cli.RunAsync("status")).Out.Split('\n').Single(l => l.StartsWith("db1 -> db2", StringComparison.Ordinal));
        Assert.Contains("replicating", pair, StringComparison.Ordinal);
        Assert.DoesNotContain("(since", pair, StringComparison.Ordinal);
    }

    /// <summary>
    /// The purge marks only what it purged, and a new pair has nothing to miss: after a purge, a pair away longer
    /// than the retention with no tombstone purged past it goes on, and a second sync over the same databases
    /// starts normally. (With one database-wide marker moved on every pass, both were told to re-copy.)
    /// </summary>
    [Fact]
    public async Task a_second_sync_after_a_purge_and_a_pair_away_with_nothing_purged_past_it_both_replicate()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_second_sync_after_a_purge_and_a_pair_away_with_nothing_purged_past_it_both_replicate),
            "CREATE TABLE items (id int PRIMARY KEY, name text); CREATE TABLE others (id int PRIMARY KEY, name text)",
            ["public.items", "public.others"]);
        await t.AddDatabasesAsync(2);
        await t.Cli.OkAsync("add", "sync", "s", "tables=public.items", "dbs=db1:source,db2:target");
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO items SELECT g, 'x' FROM generate_series(1, 100) g");
        await t.ExecAsync(0, "DELETE FROM items WHERE id <= 50");
        await t.ConvergedAsync("items", [0, 1]);
        await t.Cli.OkAsync("stop");

        using var store = await Store.OpenAsync(Path.Combine(t.Cli.Home, "ferry.db"), default);
        var purger = new TombstonePurger(store, NullLogger.Instance, TimeSpan.Zero);
        await Eventually.UntilAsync(async () => { await purger.PurgeOnceAsync(default); return await TombstonesAsync(t, 0) == 0; },
            TimeSpan.FromSeconds(20), "tombstones purged");
        // Away longer than the retention, but nothing it needs is purged meanwhile (no deletes).
        await t.Servers[1].ExecuteAsync(t.Database, "UPDATE ferry.progress SET updated_at = now() - interval '1 day'", default);
        Assert.Equal(0L, await purger.PurgeOnceAsync(default));

        await t.Cli.OkAsync("add", "sync", "s2", "tables=public.others", "dbs=db1:source,db2:target");
        await t.ExecAsync(0, "INSERT INTO others SELECT g, 'y' FROM generate_series(1, 10) g; INSERT INTO items VALUES (101, 'new')");
        await t.Cli.OkAsync("start");
        await t.ConvergedAsync("others", [0, 1]);
        await t.ConvergedAsync("items", [0, 1]);
        Assert.Equal(10L, await t.ScalarAsync<long>(1, "SELECT count(*) FROM others"));
        Assert.DoesNotContain("re-copy", (await t.Cli.RunAsync("status")).Out, StringComparison.Ordinal);
    }
}
