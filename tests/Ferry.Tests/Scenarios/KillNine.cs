using System.Diagnostics;
using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// DESIGN invariants 2 and 3 under the harshest stop there is: the relay killed with SIGKILL, with no chance to
/// roll back or say goodbye, in the middle of a chunk and between batches. What it had committed stays, what it
/// had not is redone, and no row arrives twice.
/// </summary>
[Collection("scenario-servers")]
public sealed class KillNine(ServerFixture servers)
{
    private const int Rows = 200_000;
    private const string Schema = "CREATE TABLE bulk (id int PRIMARY KEY, payload text NOT NULL, n bigint NOT NULL)";

    /// <summary>Count and sum: cheap enough to poll on two cores without starving the relay being measured.</summary>
    private const string Totals = "SELECT count(*) || ' ' || coalesce(sum(n), 0) FROM bulk";

    /// <summary>Count, sum and md5 of the ordered content: any loss, duplicate or changed value shows.</summary>
    private const string Content = "SELECT count(*) || ' ' || coalesce(sum(n), 0) || ' ' || " +
                                   "coalesce(md5(string_agg(id || ':' || payload || ':' || n, ',' ORDER BY id)), '') FROM bulk";

    [Theory]
    [InlineData("trigger")]
    [InlineData("wal")]
    public async Task relay_killed_mid_chunk_and_between_batches_loses_nothing_and_applies_nothing_twice(string capture)
    {
        var clock = Stopwatch.StartNew();
        await using var t = await Topology.CreateAsync(servers,
            nameof(relay_killed_mid_chunk_and_between_batches_loses_nothing_and_applies_nothing_twice),
            Schema, ["public.bulk"], capture: capture);
        await t.OneSourceTwoTargetsAsync();
        // 40 chunks per pair: a long batch with many cursor commits to be killed between.
        t.Cli.Environment["FERRY_CHUNK_ROWS"] = "5000";
        await t.Cli.OkAsync("start");

        await t.ExecAsync(0, $"INSERT INTO bulk SELECT i, md5(i::text), i * 7 FROM generate_series(1, {Rows}) i");

        // Kill while db2 holds part of the batch and its apply backend is inside a statement or a transaction.
        var partial = await Eventually.UntilAsync(async () =>
        {
            var count = await t.ScalarAsync<long>(1, "SELECT count(*) FROM bulk");
            var busy = await servers[1].ScalarAsync<long>(t.Database,
                "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'ferry apply%' " +
                "AND state IN ('active', 'idle in transaction')", default);
            return (count, busy);
        }, x => x.count is > 0 and < Rows - 10_000 && x.busy > 0, TimeSpan.FromSeconds(30),
            "db2 to be part-way through the batch");
        Assert.True(await RelayKiller.KillAsync(t), "the relay was running");
        var afterKill = await t.ScalarAsync<long>(1, "SELECT count(*) FROM bulk");
        Assert.InRange(afterKill, partial.count, Rows - 1);

        await t.Cli.OkAsync("start");
        var expected = await t.ScalarAsync<string>(0, Content);
        await ContentEqualsAsync(t, expected);

        // Between batches: killed while idle, changes made while it is gone, then started again.
        Assert.True(await RelayKiller.KillAsync(t), "the relay was running");
        await t.ExecAsync(0, "UPDATE bulk SET payload = 'changed', n = -n WHERE id % 1000 = 0");
        await t.ExecAsync(0, "DELETE FROM bulk WHERE id BETWEEN 100 AND 199");
        await t.ExecAsync(0, $"INSERT INTO bulk SELECT i, 'late', 1 FROM generate_series({Rows + 1}, {Rows + 10}) i");
        await t.Cli.OkAsync("start");
        expected = await t.ScalarAsync<string>(0, Content);
        Assert.StartsWith($"{Rows - 100 + 10} ", expected);
        await ContentEqualsAsync(t, expected);

        foreach (var target in new[] { 1, 2 })
        {
            Assert.Equal(0L, await servers[target].ScalarAsync<long>(t.Database,
                "SELECT count(*) FROM ferry.conflicts", default));
            // No chunk cursor is left behind: the interrupted batch was finished, not abandoned.
            Assert.Equal(0L, await servers[target].ScalarAsync<long>(t.Database,
                "SELECT count(*) FROM ferry.progress WHERE chunk_to IS NOT NULL", default));
            // Committed chunks add their rows to the progress in the same transaction: 200,000 inserts, then 200
            // updates, 100 deletes and 10 inserts. A chunk committed twice, or counted without being applied, shows.
            Assert.Equal(Rows + 310L, await servers[target].ScalarAsync<long>(t.Database,
                "SELECT rows_applied FROM ferry.progress", default));
        }
        // WAL capture decodes the 200,000 rows and logs their keys after the commit, where the trigger's bulk path writes
        // their versions inside the statement: 62 s against 45 s in one run at a load average of 44 on the 2 cores.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(capture == "wal" ? 90 : 60), $"took {clock.Elapsed}");
    }

    private const string ReapplySchema = """
        CREATE TABLE parents (id int PRIMARY KEY, name text NOT NULL);
        CREATE TABLE children (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parents, note text)
        """;

    /// <summary>
    /// DESIGN invariant 3 from the other side: a batch applied again — the same pair run twice, or its progress
    /// lost so that every batch since the beginning comes again — changes no row, no row version, no tombstone.
    /// </summary>
    [Fact]
    public async Task reapplying_batches_changes_no_row_and_moves_no_row_version()
    {
        await using var t = await Topology.CreateAsync(servers,
            nameof(reapplying_batches_changes_no_row_and_moves_no_row_version),
            ReapplySchema, ["public.parents", "public.children"]);
        await t.OneSourceTwoTargetsAsync();
        await t.ExecAsync(0, "INSERT INTO parents SELECT i, 'p' || i FROM generate_series(1, 300) i");
        await t.ExecAsync(0, "INSERT INTO children SELECT i, 1 + i % 250, 'c' || i FROM generate_series(1, 600) i");
        await t.ExecAsync(0, "UPDATE children SET note = note || ' changed' WHERE id % 7 = 0");
        await t.ExecAsync(0, "UPDATE parents SET id = id + 1000 WHERE id > 290 AND NOT EXISTS " +
                             "(SELECT 1 FROM children c WHERE c.parent_id = parents.id)");
        await t.ExecAsync(0, "DELETE FROM children WHERE id > 550");
        await t.ExecAsync(0, "TRUNCATE children");
        await t.ExecAsync(0, "INSERT INTO children SELECT i, i, 'after truncate' FROM generate_series(1, 40) i");
        await t.ExecAsync(0, "DELETE FROM parents WHERE id BETWEEN 200 AND 250");

        // Small chunks: many cursor commits, each of which is re-run below.
        string[] runOnce = ["debug", "run-once", "s", "db1", "db2", "chunk_rows=50"];
        await t.Cli.OkAsync(runOnce);
        var applied = await StateAsync(t);
        Assert.Equal(await t.DumpAsync(0, "parents") + "\n" + await t.DumpAsync(0, "children"),
            applied.Split("\n=====\n")[0]);

        var again = await t.Cli.OkAsync(runOnce);
        Assert.Contains(": 0 rows", again.Out);
        Assert.Equal(applied, await StateAsync(t));

        // Progress lost: every entry is read and offered again, and every one loses to the equal version in place.
        await servers[1].ExecuteAsync(t.Database, "DELETE FROM ferry.progress", default);
        var replay = await t.Cli.OkAsync(runOnce);
        Assert.DoesNotContain(": 0 rows", replay.Out);
        Assert.Equal(applied, await StateAsync(t));
        Assert.Equal(0L, await servers[1].ScalarAsync<long>(t.Database, "SELECT count(*) FROM ferry.conflicts", default));
    }

    /// <summary>db2's rows, then (as superuser) its row versions with their xids, and its truncate tombstones.</summary>
    private static async Task<string> StateAsync(Topology t) =>
        await t.DumpAsync(1, "parents") + "\n" + await t.DumpAsync(1, "children") + "\n=====\n" +
        await Fingerprint.RowVersionsAsync(t, 1) + "\n=====\n" +
        await t.Servers[1].ScalarAsync<string>(t.Database,
            "SELECT string_agg(t::text, E'\\n' ORDER BY t::text) FROM ferry.truncates t", default);

    private static async Task ContentEqualsAsync(Topology t, string expected)
    {
        try
        {
            var totals = await t.ScalarAsync<string>(0, Totals);
            foreach (var target in new[] { 1, 2 })
            {
                await Eventually.UntilAsync(() => t.ScalarAsync<string>(target, Totals), c => c == totals,
                    TimeSpan.FromSeconds(40), $"db{target + 1} to hold as many rows as db1, with the same sum ({totals})");
                await Eventually.UntilAsync(() => t.ScalarAsync<string>(target, Content), c => c == expected,
                    TimeSpan.FromSeconds(5), $"db{target + 1} to hold exactly db1's rows ({expected})");
            }
        }
        catch (TimeoutException e)
        {
            // Why it is stuck: the relay's own log, and what ferry's sessions are doing or waiting for.
            var lines = t.Cli.LogText.Split('\n').TakeLast(30).ToList();
            for (var i = 0; i < 3; i++)
                lines.Add(await t.Servers[i].ScalarAsync<string>(t.Database,
                    "SELECT string_agg(concat_ws(' | ', application_name, state, wait_event, left(query, 120)), E'\\n') " +
                    "FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'ferry%'",
                    default) ?? "");
            throw new TimeoutException(
                e.Message + "\n--- relay log (end), then ferry's sessions\n" + string.Join('\n', lines), e);
        }
    }
}
