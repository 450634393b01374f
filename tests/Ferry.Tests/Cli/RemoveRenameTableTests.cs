using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>
/// A table renamed or dropped on every database: the pairs stop with a message naming both commands;
/// `ferry rename table` follows the rename keeping every row version and logged change (rows written before, during
/// and after the rename converge), and `ferry remove table` takes a table out of the sync and its capture away.
/// </summary>
[Collection("servers")]
public sealed class RemoveRenameTableTests(ServerFixture servers)
{
    [Fact]
    public async Task a_renamed_table_is_followed_and_a_removed_one_leaves_the_sync()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_renamed_table_is_followed_and_a_removed_one_leaves_the_sync),
            "CREATE TABLE items (id int PRIMARY KEY, v text); CREATE TABLE notes (id int PRIMARY KEY, v text)", ["public.items", "public.notes"]);
        await t.TwoMastersAndReplicaAsync();
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO items SELECT g, 'db1' FROM generate_series(1, 50) g");
        await t.ExecAsync(1, "INSERT INTO items SELECT g, 'db2' FROM generate_series(51, 100) g");
        await t.ConvergedAsync("items", [0, 1, 2]);

        // Renamed by its owner on every database; the application writes on under the new name meanwhile.
        foreach (var s in servers.Servers)
            await s.ExecuteAsync(t.Database, "ALTER TABLE items RENAME TO goods", default);
        await t.ExecAsync(0, "UPDATE goods SET v = 'edited during' WHERE id <= 10");
        await Eventually.UntilAsync(async () => (await t.Cli.RunAsync("status")).All,
            s => s.Contains("Table \"public\".\"items\" no longer exists on db", StringComparison.Ordinal) &&
                 s.Contains("run ferry rename table public.items NEW", StringComparison.Ordinal) &&
                 s.Contains("ferry remove table public.items", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "the pairs to stop naming the rename and remove commands");

        await t.Cli.RefusesAsync(Refusal.Failure, ["rename", "table", "items", "nowhere"], "Table \"public\".\"nowhere\" does not exist on db1");
        var renamed = await t.Cli.OkAsync("rename", "table", "items", "goods");
        Assert.Contains("Renamed table \"public\".\"items\" to \"public\".\"goods\" in herd h", renamed.Out, StringComparison.Ordinal);
        // The running relay reloads: the sync's pairs start again on the new name.
        Assert.Matches(@"reloaded: sync s restarted \(\d+ pairs\)", renamed.Out);
        await t.ExecAsync(1, "INSERT INTO goods SELECT g, 'db2 after' FROM generate_series(101, 120) g; DELETE FROM goods WHERE id = 60");
        await t.ConvergedAsync("goods", [0, 1, 2]);
        Assert.Equal(10L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM goods WHERE v = 'edited during'"));
        Assert.Equal(119L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM goods"));
        Assert.Contains("No conflicts recorded.", (await t.Cli.OkAsync("conflicts")).Out, StringComparison.Ordinal);

        // Removed: its capture goes from every database, the sync goes on with the other table.
        await t.Cli.RefusesAsync(Refusal.Failure, ["remove", "table", "notes", "herd=other"], "Table \"public\".\"notes\" is not in herd other");
        var removed = await t.Cli.OkAsync("remove", "table", "notes");
        Assert.Contains("Removed table \"public\".\"notes\" from herd h.", removed.Out, StringComparison.Ordinal);
        for (var i = 0; i < 3; i++) Assert.Equal(0L, await Refusal.CaptureTriggersAsync(servers[i], t.Database, "public.notes"));
        Assert.DoesNotContain("notes", (await t.Cli.OkAsync("list", "tables")).Out, StringComparison.Ordinal);
        Assert.Matches(@"reloaded: sync s restarted \(\d+ pairs\)", removed.Out);
        await t.ExecAsync(0, "INSERT INTO notes VALUES (1, 'local only'); INSERT INTO goods VALUES (500, 'still replicated')");
        await t.ConvergedAsync("goods", [0, 1, 2]);
        Assert.Equal(0L, await t.ScalarAsync<long>(1, "SELECT count(*) FROM notes"));
    }
}
