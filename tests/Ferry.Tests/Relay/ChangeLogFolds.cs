using Ferry.Capture;
using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Relay;

/// <summary>
/// The change log is folded a limited number of entries at a time (FERRY_FOLD_LIMIT), so that after a long outage
/// no single fold outlasts the relay's command timeout. With a limit of 7, a backlog of many small statements must
/// still reach every database whole: folded at connect in several calls, and while the relay runs, a part per batch.
/// </summary>
[Collection("scenario-servers")]
public sealed class ChangeLogFolds(ServerFixture servers)
{
    [Fact]
    public async Task a_backlog_larger_than_one_fold_reaches_every_database()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_backlog_larger_than_one_fold_reaches_every_database),
            "CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL)", ["public.items"]);
        t.Cli.Environment["FERRY_FOLD_LIMIT"] = "7";
        await t.OneSourceTwoTargetsAsync();
        var log = new CaptureNames(new TableName("public", "items")).Log;

        // Each statement appends to the log, one entry per key: 30 inserts, 5 updates, 5 deletes.
        await t.ExecAsync(0, Statements(1, 30));
        Assert.Equal(40L, await servers[0].ScalarAsync<long>(t.Database, $"SELECT count(*) FROM {log}", default));
        await t.Cli.OkAsync("debug", "run-once", "s", "db1", "db2");
        Assert.Equal(0L, await servers[0].ScalarAsync<long>(t.Database, $"SELECT count(*) FROM {log}", default));
        Assert.Equal(await t.DumpAsync(0, "items"), await t.DumpAsync(1, "items"));

        // While the relay runs, each batch folds at most 7 entries and the rest come in the next ones.
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, Statements(31, 60));
        await t.ConvergedAsync("items", [0, 1, 2]);
        Assert.Equal(50L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM items"));
    }

    private static string Statements(int from, int to) => string.Concat(
        Enumerable.Range(from, to - from + 1).Select(i => $"INSERT INTO items VALUES ({i}, 'new {i}');")
            .Concat(Enumerable.Range(from, 5).Select(i => $"UPDATE items SET v = 'changed {i}' WHERE id = {i};"))
            .Concat(Enumerable.Range(from + 5, 5).Select(i => $"DELETE FROM items WHERE id = {i};")));
}
