using Ferry.Tests.Harness;
using Npgsql;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// DESIGN invariant 5: a transaction that took its xid before others, and commits after the relay has applied them,
/// is still delivered. A ticker or a "highest xid seen" watermark would step over it.
/// </summary>
[Collection("scenario-servers")]
public sealed class GapFree(ServerFixture servers)
{
    private const string Schema = "CREATE TABLE events (id int PRIMARY KEY, note text NOT NULL)";

    [Theory]
    [InlineData("trigger")]
    [InlineData("wal")]
    public async Task transaction_that_commits_after_later_ones_were_applied_is_not_skipped(string capture)
    {
        await using var t = await Topology.CreateAsync(servers,
            nameof(transaction_that_commits_after_later_ones_were_applied_is_not_skipped),
            Schema, ["public.events"], capture: capture);
        await t.OneSourceTwoTargetsAsync();
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO events VALUES (0, 'before')");
        await WaitForRowAsync(t, 0, "before");

        // A takes its xid first (its first write) and stays open.
        await using var a = await t.AppAsync(0);
        await using var txA = await a.BeginTransactionAsync();
        var xidA = await ScalarAsync<long>(a, "INSERT INTO events VALUES (1, 'A') RETURNING pg_current_xact_id()::text::bigint");
        await ScalarAsync<int>(a, "UPDATE events SET note = 'changed by A' WHERE id = 0 RETURNING id");

        // B starts later, with a higher xid, commits, and is replicated while A is still running.
        await using (var b = await t.AppAsync(0))
        {
            var xidB = await ScalarAsync<long>(b,
                "INSERT INTO events VALUES (2, 'B') RETURNING pg_current_xact_id()::text::bigint");
            Assert.True(xidB > xidA, $"B's xid {xidB} should be above A's {xidA}");
        }
        await WaitForRowAsync(t, 2, "B");

        // More batches go by, and an empty poll moves the stored snapshot past every xid handed out so far: A is
        // still in it as running, which is what brings it in later.
        for (var i = 3; i <= 5; i++)
        {
            await t.ExecAsync(0, $"INSERT INTO events VALUES ({i}, 'later')");
            await WaitForRowAsync(t, i, "later");
        }
        var lastXid = await t.ScalarAsync<long>(0, "SELECT pg_current_xact_id()::text::bigint");
        foreach (var target in new[] { 1, 2 })
        {
            var stored = await Eventually.UntilAsync(
                () => servers[target].ScalarAsync<string>(t.Database,
                    "SELECT applied_through::text FROM ferry.progress WHERE source_name = 'db1'", default),
                s => s is not null && Ferry.Read.PgSnapshot.Parse(s).Xmax > (ulong)lastXid, TimeSpan.FromSeconds(20),
                $"db{target + 1}'s stored snapshot to pass xid {lastXid}");
            Assert.True(Ferry.Read.PgSnapshot.Parse(stored!).Xmin <= (ulong)xidA,
                $"A ({xidA}) must still be pending in {stored}");
            Assert.Equal(0L, await t.ScalarAsync<long>(target, "SELECT count(*) FROM events WHERE id = 1"));
        }

        await txA.CommitAsync();
        await WaitForRowAsync(t, 1, "A");
        await WaitForRowAsync(t, 0, "changed by A");
        await t.ConvergedAsync("events", [0, 1, 2]);
    }

    private static async Task WaitForRowAsync(Topology t, int id, string note)
    {
        foreach (var target in new[] { 1, 2 })
            await Eventually.UntilAsync(
                () => t.ScalarAsync<long>(target, $"SELECT count(*) FROM events WHERE id = {id} AND note = '{note}'"),
                n => n == 1, TimeSpan.FromSeconds(20), $"row {id} ({note}) on db{target + 1}");
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection c, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, c);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }
}
