using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// A unique value moving from one row to another within one batch (two rows swapping emails, or a chain of moves):
/// each row's new value is still held by another row of the batch, so no order of upserts gets through a
/// non-deferrable constraint. Both ways of applying (a plain replica, and a master keeping versions) must, also in
/// a table other tables reference, where the rows in the way cannot leave their children for a moment.
/// </summary>
[Collection("scenario-servers")]
public sealed class UniqueMoves(ServerFixture servers)
{
    private const string Users = "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text)";

    /// <summary>Without children, or with children whose foreign key is NO ACTION, the default, and not deferrable.</summary>
    public static TheoryData<string> Children => new()
    {
        "",
        "orders (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users)",
    };

    private static string Schema(string children) => children == "" ? Users : $"{Users}; CREATE TABLE {children}";

    private static string[] Tables(string children) => children == "" ? ["public.users"] : ["public.users", "public.orders"];

    private const string Rows = """
        INSERT INTO users SELECT g, chr(96 + g) || '@x', 'user ' || g FROM generate_series(1, 5) g;
        INSERT INTO orders SELECT 10 * g + k, g FROM generate_series(1, 5) g, generate_series(1, 2) k;
        """;

    private const string Moves = """
        UPDATE users SET email = 'swap' WHERE id = 1;
        UPDATE users SET email = 'a@x' WHERE id = 2;
        UPDATE users SET email = 'b@x' WHERE id = 1;
        UPDATE users SET email = 'tmp' WHERE id = 3;
        UPDATE users SET email = 'c@x' WHERE id = 4;
        UPDATE users SET email = 'd@x' WHERE id = 5;
        UPDATE users SET email = 'e@x' WHERE id = 3;
        """;

    [Theory]
    [MemberData(nameof(Children))]
    public async Task swaps_and_chains_of_moves_reach_a_replica_in_one_batch(string children)
    {
        await using var t = await Topology.CreateAsync(servers, nameof(swaps_and_chains_of_moves_reach_a_replica_in_one_batch),
            Schema(children), Tables(children));
        await t.OneSourceTwoTargetsAsync();
        string[] runOnce = ["debug", "run-once", "s", "db1", "db2"];
        await t.Cli.OkAsync(runOnce);
        await t.ExecAsync(0, children == "" ? Rows.Split('\n')[0] : Rows);
        await t.Cli.OkAsync(runOnce);
        // 1 and 2 swap; 4 takes 3's value, 5 takes 4's, and 3 takes 5's: a cycle.
        await t.ExecAsync(0, Moves);
        await t.Cli.OkAsync(runOnce);
        foreach (var table in Tables(children))
            Assert.Equal(await t.DumpAsync(0, table), await t.DumpAsync(1, table));
        Assert.Equal("b@x a@x e@x c@x d@x", await t.ScalarAsync<string>(1, "SELECT string_agg(email, ' ' ORDER BY id) FROM users"));
    }

    [Theory]
    [MemberData(nameof(Children))]
    public async Task swaps_and_chains_of_moves_on_one_master_reach_the_other_and_the_replica(string children)
    {
        await using var t = await Topology.CreateAsync(servers, nameof(swaps_and_chains_of_moves_on_one_master_reach_the_other_and_the_replica),
            Schema(children), Tables(children));
        await t.TwoMastersAndReplicaAsync();
        await t.ExecAsync(0, children == "" ? Rows.Split('\n')[0] : Rows);
        // Pair by pair, so the moves arrive as one batch on each database.
        foreach (var target in new[] { "db2", "db3" }) await t.Cli.OkAsync("debug", "run-once", "s", "db1", target);
        await t.ExecAsync(0, Moves);
        foreach (var target in new[] { "db2", "db3" }) await t.Cli.OkAsync("debug", "run-once", "s", "db1", target);
        foreach (var server in new[] { 1, 2 })
        foreach (var table in Tables(children))
            Assert.Equal(await t.DumpAsync(0, table), await t.DumpAsync(server, table));
        Assert.Equal(0L, await servers[1].ScalarAsync<long>(t.Database, "SELECT count(*) FROM ferry.conflicts", default));
    }

    /// <summary>
    /// Children that a delete of their parent would take along (or null, or refuse it at once) cannot let ferry
    /// delete the parent even for a moment: the move holds the table on the pair with the constraint named (the
    /// pair's other tables would go on), and nothing changes.
    /// </summary>
    [Fact]
    public async Task a_swap_where_deleting_the_parent_would_cascade_holds_the_table_and_keeps_the_children()
    {
        const string children = "orders (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users ON DELETE CASCADE)";
        await using var t = await Topology.CreateAsync(servers, nameof(a_swap_where_deleting_the_parent_would_cascade_holds_the_table_and_keeps_the_children),
            Schema(children), Tables(children));
        await t.OneSourceTwoTargetsAsync();
        await t.ExecAsync(0, Rows);
        await t.Cli.OkAsync("debug", "run-once", "s", "db1", "db2");
        var before = await t.DumpAsync(1, "public.users") + await t.DumpAsync(1, "public.orders");
        await t.ExecAsync(0, Moves);
        await t.Cli.RunAsync("debug", "run-once", "s", "db1", "db2");
        Assert.Contains("users_email_key", await servers[1].ScalarAsync<string>(t.Database,
            "SELECT string_agg(cause, '; ') FROM ferry.held_tables WHERE table_name = 'users'", default));
        Assert.Equal(before, await t.DumpAsync(1, "public.users") + await t.DumpAsync(1, "public.orders"));
    }
}
