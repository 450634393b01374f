using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// An application's UPDATE and DELETE of thousands of rows append their keys to the change log, whatever their size,
/// and the relay folds them later (capture_table.sql): bulk statements on both masters, overlapping each other and
/// changing primary keys, must be decided exactly as row-by-row ones are, and converge.
/// </summary>
[Collection("servers")]
public sealed class BulkStatements(ServerFixture servers)
{
    private const string Schema = "CREATE TABLE accounts (id int PRIMARY KEY, city text NOT NULL)";

    [Theory]
    [InlineData("trigger")]
    [InlineData("wal")]
    public async Task bulk_updates_and_deletes_on_both_masters_converge_with_their_conflicts_decided(string capture)
    {
        await using var t = await Topology.CreateAsync(servers, nameof(bulk_updates_and_deletes_on_both_masters_converge_with_their_conflicts_decided),
            Schema, ["public.accounts"], capture: capture);
        await t.TwoMastersAndReplicaAsync();
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO accounts SELECT g, 'start' FROM generate_series(1, 4000) g");
        await t.ConvergedAsync("accounts", [0, 1, 2]);

        // Neither master sees the other's statements before all of them are made; each is later than the one before.
        await t.Cli.OkAsync("stop");
        await t.ExecAsync(0, "UPDATE accounts SET city = 'office' WHERE id <= 2000");
        await t.ExecAsync(1, "UPDATE accounts SET city = 'cloud' WHERE id > 1000 AND id <= 3000");
        await t.ExecAsync(0, "DELETE FROM accounts WHERE id > 2500 AND id <= 3000");
        await t.ExecAsync(1, "DELETE FROM accounts WHERE id <= 500");
        await t.ExecAsync(1, "UPDATE accounts SET id = id + 10000 WHERE id > 3500");
        await t.Cli.OkAsync("start");
        await t.ConvergedAsync("accounts", [0, 1, 2]);

        const string shape = "SELECT city, count(*), min(id), max(id) FROM accounts GROUP BY city ORDER BY city";
        Assert.Equal("cloud 1500 1001 2500; office 500 501 1000; start 1000 3001 14000",
            await t.ScalarAsync<string>(2, $"SELECT string_agg(concat_ws(' ', city, count, min, max), '; ') FROM ({shape}) AS s"));
        Assert.Equal(0L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM accounts WHERE id > 3500 AND id <= 4000"));
        // db1 decided db2's changes against its own: the later edit wins, a later delete beats an edit, and the reverse.
        Assert.Equal("db2 db1 db2", await servers[0].ScalarAsync<string>(t.Database, """
            SELECT concat_ws(' ',
                (SELECT string_agg(DISTINCT winner, ',') FROM ferry.conflicts WHERE key = '{"id": 1500}'),
                (SELECT string_agg(DISTINCT winner, ',') FROM ferry.conflicts WHERE key = '{"id": 2700}'),
                (SELECT string_agg(DISTINCT winner, ',') FROM ferry.conflicts WHERE key = '{"id": 300}'))
            """, default));

        // And while the relay runs: both masters rewrite every row at once, one of them moving keys too. Which edit
        // wins a row depends on the interleaving; that every database ends with the same winner does not.
        await Task.WhenAll(
            t.ExecAsync(0, "UPDATE accounts SET city = city || ' +office'"),
            t.ExecAsync(1, "UPDATE accounts SET city = city || ' +cloud', id = id + 100000 WHERE id > 3000"));
        await Task.WhenAll(
            t.ExecAsync(0, "DELETE FROM accounts WHERE id % 7 = 0"),
            t.ExecAsync(1, "DELETE FROM accounts WHERE id % 5 = 0"));
        await t.ConvergedAsync("accounts", [0, 1, 2]);
    }
}
