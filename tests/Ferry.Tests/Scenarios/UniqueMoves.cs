using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// A unique value moving from one row to another within one batch (two rows swapping emails, or a chain of moves):
/// each row's new value is still held by another row of the batch, so no order of upserts gets through a
/// non-deferrable constraint. Both ways of applying (a plain replica, and a master keeping versions) must.
/// </summary>
[Collection("servers")]
public sealed class UniqueMoves(ServerFixture servers)
{
    private const string Schema = "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text)";

    private const string Moves = """
        UPDATE users SET email = 'swap' WHERE id = 1;
        UPDATE users SET email = 'a@x' WHERE id = 2;
        UPDATE users SET email = 'b@x' WHERE id = 1;
        UPDATE users SET email = 'tmp' WHERE id = 3;
        UPDATE users SET email = 'c@x' WHERE id = 4;
        UPDATE users SET email = 'd@x' WHERE id = 5;
        UPDATE users SET email = 'e@x' WHERE id = 3;
        """;

    [Fact]
    public async Task swaps_and_chains_of_moves_reach_a_replica_in_one_batch()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(swaps_and_chains_of_moves_reach_a_replica_in_one_batch),
            Schema, ["public.users"]);
        await t.OneSourceTwoTargetsAsync();
        string[] runOnce = ["debug", "run-once", "s", "db1", "db2"];
        await t.Cli.OkAsync(runOnce);
        await t.ExecAsync(0, "INSERT INTO users SELECT g, chr(96 + g) || '@x', 'user ' || g FROM generate_series(1, 5) g");
        await t.Cli.OkAsync(runOnce);
        // 1 and 2 swap; 4 takes 3's value, 5 takes 4's, and 3 takes 5's: a cycle.
        await t.ExecAsync(0, Moves);
        await t.Cli.OkAsync(runOnce);
        Assert.Equal(await t.DumpAsync(0, "users"), await t.DumpAsync(1, "users"));
        Assert.Equal("b@x a@x e@x c@x d@x", await t.ScalarAsync<string>(1, "SELECT string_agg(email, ' ' ORDER BY id) FROM users"));
    }

    [Fact]
    public async Task swaps_and_chains_of_moves_on_one_master_reach_the_other_and_the_replica()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(swaps_and_chains_of_moves_on_one_master_reach_the_other_and_the_replica),
            Schema, ["public.users"]);
        await t.TwoMastersAndReplicaAsync();
        await t.ExecAsync(0, "INSERT INTO users SELECT g, chr(96 + g) || '@x', 'user ' || g FROM generate_series(1, 5) g");
        // Pair by pair, so the moves arrive as one batch on each database.
        foreach (var target in new[] { "db2", "db3" }) await t.Cli.OkAsync("debug", "run-once", "s", "db1", target);
        await t.ExecAsync(0, Moves);
        foreach (var target in new[] { "db2", "db3" }) await t.Cli.OkAsync("debug", "run-once", "s", "db1", target);
        foreach (var server in new[] { 1, 2 })
            Assert.Equal(await t.DumpAsync(0, "users"), await t.DumpAsync(server, "users"));
        Assert.Equal(0L, await servers[1].ScalarAsync<long>(t.Database, "SELECT count(*) FROM ferry.conflicts", default));
    }
}
