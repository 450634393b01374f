using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>
/// `ferry compare`: a target changed behind ferry's back is found, key by key (a row missing, one extra, one
/// different), also in a table whose names need quoting, and `repair=` sends those keys again from the source until
/// every database holds the same rows.
/// </summary>
[Collection("servers")]
public sealed class CompareTests(ServerFixture servers)
{
    /// <summary>A table whose name and key columns need quoting everywhere, with a two-column key.</summary>
    private const string Odd = "public.\"odd; \"\"name\"\"\"";

    [Fact]
    public async Task a_target_changed_behind_ferrys_back_is_found_and_repaired_from_the_source()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_target_changed_behind_ferrys_back_is_found_and_repaired_from_the_source),
            "CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL, at timestamptz NOT NULL DEFAULT now()); " +
            $"CREATE TABLE {Odd} (\"key col\" text, n int, note text, PRIMARY KEY (\"key col\", n))", ["public.items", Odd]);
        await t.OneSourceTwoTargetsAsync();
        await t.ExecAsync(0, "INSERT INTO items (id, v) SELECT g, 'row ' || g FROM generate_series(1, 500) AS g; " +
                             $"INSERT INTO {Odd} SELECT 'k''' || g % 3, g, 'note ' || g FROM generate_series(1, 30) AS g");
        await t.Cli.OkAsync("debug", "run-once", "s", "db1", "db2");
        await t.Cli.OkAsync("debug", "run-once", "s", "db1", "db3");
        var same = await t.Cli.OkAsync("compare", "s");
        Assert.Contains("\"public\".\"items\": the same on db1, db2, db3 (500 rows).", same.Out, StringComparison.Ordinal);

        // Behind ferry's back on db2: one row gone, one too many, one changed. db3 is left alone.
        await servers[1].ExecuteAsync(t.Database,
            "DELETE FROM items WHERE id = 7; INSERT INTO items (id, v) VALUES (9999, 'stray'); UPDATE items SET v = 'edited' WHERE id = 42",
            default);
        await servers[2].ExecuteAsync(t.Database, $"UPDATE {Odd} SET note = 'edited' WHERE n = 4", default);
        var odd = await t.Cli.RunAsync("compare", "s", "tables=" + Odd);
        Assert.Contains("db3 differs from db1 (30 rows there): 0 missing, 0 extra, 1 different.", odd.Out, StringComparison.Ordinal);
        Assert.Contains("different: (k'1, 4)", odd.Out, StringComparison.Ordinal);
        var found = await t.Cli.RunAsync("compare", "s", "tables=items");
        Assert.Equal(1, found.ExitCode);
        Assert.Contains("\"public\".\"items\": db2 differs from db1 (500 rows there): 1 missing, 1 extra, 1 different.", found.Out, StringComparison.Ordinal);
        Assert.Contains("missing: (7)", found.Out, StringComparison.Ordinal);
        Assert.Contains("extra: (9999)", found.Out, StringComparison.Ordinal);
        Assert.Contains("different: (42)", found.Out, StringComparison.Ordinal);
        Assert.Contains("\"public\".\"items\": db3 holds what db1 holds.", found.Out, StringComparison.Ordinal);

        Assert.Equal(2, (await t.Cli.RunAsync("compare", "s", "repair=db2")).ExitCode); // a target has no capture to send from
        var repair = await t.Cli.RunAsync("compare", "s", "repair=db1");
        Assert.Contains("Repair: 4 keys sent again from db1", repair.Out, StringComparison.Ordinal);
        await t.Cli.OkAsync("debug", "run-once", "s", "db1", "db2");
        await t.Cli.OkAsync("debug", "run-once", "s", "db1", "db3");
        var after = await t.Cli.OkAsync("compare", "s");
        Assert.Contains("the same on db1, db2, db3 (500 rows)", after.Out, StringComparison.Ordinal);
        Assert.Contains("the same on db1, db2, db3 (30 rows)", after.Out, StringComparison.Ordinal);
    }
}
