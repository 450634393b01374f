using System.Text.Json;
using Ferry.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// Several relays and WAL capture: db1 captures by WAL and is a master of two syncs (s_t1 with db2, s_t2 with db3).
/// Only one relay can read db1's slot, and an apply into db1 asks that relay's own capture for flushes, so the two
/// relays on one PostgreSQL store keep both syncs on one of them, the unit moves whole when that relay stops, and
/// every database converges with writes on every master.
/// </summary>
[Collection("scenario-servers")]
public sealed class SeveralRelaysWalCapture(ServerFixture servers, ITestOutputHelper output)
{
    private const double LeaseSeconds = 3;

    [Fact]
    public async Task syncs_sharing_a_wal_captured_master_run_on_one_relay_which_reads_its_slot_once_and_they_move_together()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(SeveralRelaysWalCapture),
            "CREATE TABLE t1 (id int PRIMARY KEY, v text NOT NULL); CREATE TABLE t2 (id int PRIMARY KEY, v text NOT NULL)",
            ["public.t1", "public.t2"], capture: "wal");
        var s = servers[0];
        t.Cli.Environment["PGPASSWORD"] = RestrictedRole.Password;
        await t.Cli.OkAsync("install", $"--dbname={t.Database}", $"--dbhost={s.Host}", $"--dbport={s.Port}", $"--dbuser={RestrictedRole.User}");
        await t.AddDatabasesAsync(3);
        await t.Cli.OkAsync("add", "dbgroup", "g12", "db1:source", "db2:source");
        await t.Cli.OkAsync("add", "dbgroup", "g13", "db1:source", "db3:source");
        await t.Cli.OkAsync("add", "sync", "s_t1", "tables=public.t1", "dbs=g12");
        await t.Cli.OkAsync("add", "sync", "s_t2", "tables=public.t2", "dbs=g13");
        using var second = new FerryCli();
        var relays = new[] { t.Cli, second };
        foreach (var cli in relays) SharedStoreRelays.Use(cli, s, t.Database, s.Port, LeaseSeconds);
        t.Cli.Environment.Remove("FERRY_STORE"); // the installing home finds the store through its store.conf
        try
        {
            await Task.WhenAll(relays.Select(r => r.OkAsync("start")));
            // Two syncs over two relays would be one each; sharing db1's capture, both go to one relay, the other idles.
            var leases = await Eventually.UntilAsync(() => SharedStoreRelays.LeasesAsync(t.Cli, LeaseSeconds),
                l => l.Count == 2 && l.Values.Any(x => x.Order().SequenceEqual(["s_t1", "s_t2"])) && l.Values.Any(x => x.Count == 0),
                TimeSpan.FromSeconds(30), "one relay holding both syncs");
            var pids = relays.ToDictionary(r => r, SharedStoreRelays.Pid);
            var holder = relays.Single(r => SharedStoreRelays.IsRelay(leases.Single(kv => kv.Value.Count == 2).Key, pids[r]));
            var other = relays.Single(r => r != holder);
            using (var doc = JsonDocument.Parse((await other.OkAsync("status", "--json")).Out))
            {
                var together = doc.RootElement.GetProperty("relays").EnumerateArray()
                    .Single(r => r.GetProperty("leases").GetArrayLength() == 2).GetProperty("together").EnumerateArray().Single();
                Assert.Equal(["s_t1", "s_t2"], together.GetProperty("syncs").EnumerateArray().Select(x => x.GetString()!));
                Assert.Contains("db1", together.GetProperty("wal").EnumerateArray().Select(x => x.GetString()!));
            }
            Assert.Contains("(s_t1 + s_t2 together: WAL of db1, db2, db3)", (await other.OkAsync("status")).Out, StringComparison.Ordinal);

            await WriteAsync(t, 0);
            await ConvergedAsync(t, 25);
            // db1's slot is read by one walsender, and no relay was ever refused it (`replication slot ... is active`).
            Assert.Equal(1L, await SlotReadersAsync(t));
            foreach (var r in relays) Assert.DoesNotContain("WAL capture of db1 failed", r.LogText, StringComparison.Ordinal);

            // The holder stops cleanly: the other relay takes both syncs, and db1's capture, together.
            await holder.OkAsync("stop");
            await Eventually.UntilAsync(() => SharedStoreRelays.LeasesAsync(other, LeaseSeconds),
                l => l.Count == 1 && l.Values.Single().Order().SequenceEqual(["s_t1", "s_t2"]), TimeSpan.FromSeconds(20), "the other relay to take both syncs");
            await WriteAsync(t, 1000);
            await ConvergedAsync(t, 50);
            await Eventually.UntilAsync(() => SlotReadersAsync(t), n => n == 1, TimeSpan.FromSeconds(10), "db1's slot read by one relay");
            Assert.DoesNotContain("WAL capture of db1 failed", other.LogText, StringComparison.Ordinal);
            foreach (var server in new[] { 0, 1, 2 })
                Assert.Equal(0L, await servers[server].ScalarAsync<long>(t.Database, "SELECT count(*) FROM ferry.conflicts", default));
            output.WriteLine($"holder {pids[holder]}, then {pids[other]}: both syncs moved together");
        }
        finally
        {
            await second.RunAsync("stop");
        }
    }

    /// <summary>Ten rows per master of each sync, ids apart: db1 into both tables, db2 into t1, db3 into t2.</summary>
    private static async Task WriteAsync(Topology t, int from)
    {
        await Task.WhenAll(
            t.ExecAsync(0, "INSERT INTO t1 SELECT g, 'db1' FROM generate_series($1::int + 1, $1::int + 10) g", from),
            t.ExecAsync(0, "INSERT INTO t2 SELECT g, 'db1' FROM generate_series($1::int + 1, $1::int + 10) g", from),
            t.ExecAsync(1, "INSERT INTO t1 SELECT g, 'db2' FROM generate_series($1::int + 11, $1::int + 25) g", from),
            t.ExecAsync(2, "INSERT INTO t2 SELECT g, 'db3' FROM generate_series($1::int + 11, $1::int + 25) g", from));
        // An edit of a row another master wrote: applied back into that master, through its WAL capture's wait.
        await t.ExecAsync(0, "UPDATE t1 SET v = 'edited on db1' WHERE id = $1::int + 11", from);
    }

    /// <summary>Each table the same on both its databases, with <paramref name="rows"/> rows.</summary>
    private static async Task ConvergedAsync(Topology t, long rows)
    {
        await Fingerprint.ConvergedAsync(t, [Fingerprint.RowsSql("t1")], [0, 1], TimeSpan.FromSeconds(60));
        await Fingerprint.ConvergedAsync(t, [Fingerprint.RowsSql("t2")], [0, 2], TimeSpan.FromSeconds(60));
        Assert.Equal(rows, await t.ScalarAsync<long>(1, "SELECT count(*) FROM t1"));
        Assert.Equal(rows, await t.ScalarAsync<long>(2, "SELECT count(*) FROM t2"));
    }

    private Task<long> SlotReadersAsync(Topology t) => servers[0].ScalarAsync<long>("postgres",
        $"SELECT count(*) FROM pg_replication_slots WHERE database = '{t.Database}' AND active", default);
}
