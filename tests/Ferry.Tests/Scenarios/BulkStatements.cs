using Ferry.Capture;
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
    /// <summary>
    /// What an UPDATE logs, with the relay stopped: each key once, whether it moves keys or not, for a key of fixed
    /// width (old and new keys compared as arrays first) and of variable width (always the EXCEPT). The keys shift by
    /// one, so every old key but the first is also a new one: logged twice, a fold limit could split them.
    /// </summary>
    [Fact]
    public async Task an_update_logs_each_key_once_whether_it_moves_keys_or_not()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(an_update_logs_each_key_once_whether_it_moves_keys_or_not),
            "CREATE TABLE numbered (id int PRIMARY KEY, v text); CREATE TABLE named (name text PRIMARY KEY, v text)",
            ["public.numbered", "public.named"]);
        await t.TwoMastersAndReplicaAsync();
        // Inserted from the highest key down, so a sequential UPDATE moves each row onto a key its neighbour just left.
        await t.ExecAsync(0, "INSERT INTO numbered SELECT g, 'a' FROM generate_series(3000, 1, -1) g; " +
                             "INSERT INTO named SELECT 'k' || pg_catalog.lpad(g::text, 5, '0'), 'a' FROM generate_series(3000, 1, -1) g");
        foreach (var (table, key, shift, kept, moved) in new[]
                 {
                     ("numbered", "id", "id = id + 1", "3000 3000 1 3000", "3001 3001 1 3001"),
                     ("named", "name", "name = 'k' || pg_catalog.lpad((pg_catalog.substr(name, 2)::int + 1)::text, 5, '0')",
                      "3000 3000 k00001 k03000", "3001 3001 k00001 k03001"),
                 })
        {
            var log = new CaptureNames(new TableName("public", table)).Log;
            async Task<string?> LoggedAsync(string statement)
            {
                await servers[0].ExecuteAsync(t.Database, $"TRUNCATE {log}", default);
                await t.ExecAsync(0, statement);
                return await servers[0].ScalarAsync<string>(t.Database,
                    $"SELECT concat_ws(' ', count(*), count(DISTINCT {key}), min({key}), max({key})) FROM {log}", default);
            }
            Assert.Equal(kept, await LoggedAsync($"UPDATE {table} SET v = 'b'"));
            Assert.Equal(moved, await LoggedAsync($"UPDATE {table} SET {shift}"));
        }
    }
}
