using System.Diagnostics;
using System.Text.Json;
using Ferry.Local;
using Ferry.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// A partition between one relay's host and one database only: two relays on one PostgreSQL store, syncs db1 ⇄ db2 and
/// db1 ⇄ db3, and the first relay's links to db3 blackholed (the other relay reaches db3 through the same proxy,
/// untouched). The cut relay keeps replicating its db1 ⇄ db2 sync throughout, hands its db1 ⇄ db3 sync to the other
/// relay, and everything converges with nothing lost or applied twice.
/// </summary>
[Collection("servers")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class RelayCutOffFromOneDatabase(ServerFixture servers, ITestOutputHelper output)
{
    private const double LeaseSeconds = 3;
    private const int DeadLinkSeconds = 4;

    // t1, t3 go db1 ⇄ db2, t2, t4 db1 ⇄ db3. The cut relay starts alone and holds all four; when the other joins, the
    // first keeps the first two by name (LeaseShare): one sync of each kind.
    private static readonly string[] Tables = ["t1", "t2", "t3", "t4"];
    private static int ServerOf(string table) => table is "t1" or "t3" ? 1 : 2;

    [Fact]
    public async Task a_relay_cut_off_from_one_database_keeps_its_other_syncs_and_hands_those_there_to_a_relay_that_reaches_it()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(RelayCutOffFromOneDatabase),
            string.Join("; ", Tables.Select(n => $"CREATE TABLE {n} (id int PRIMARY KEY, v text NOT NULL)")), Tables.Select(n => "public." + n));
        await using var proxy = FaultProxy.Start(servers[2]);
        var s = servers[0];
        t.Cli.Environment["PGPASSWORD"] = RestrictedRole.Password;
        await t.Cli.OkAsync("install", $"--dbname={t.Database}", $"--dbhost={s.Host}", $"--dbport={s.Port}", $"--dbuser={RestrictedRole.User}");
        // db3 is registered at the proxy: both relays reach it at that address; only the cut relay's connections fail.
        for (var i = 0; i < 3; i++)
            await t.Cli.OkAsync("add", "database", Topology.NodeName(i), $"dbname={t.Database}", $"host={servers[i].Host}",
                $"port={(i == 2 ? proxy.Port : servers[i].Port)}", $"user={RestrictedRole.User}", $"pass={RestrictedRole.Password}");
        await t.Cli.OkAsync("add", "dbgroup", "g2", "db1:source", "db2:source");
        await t.Cli.OkAsync("add", "dbgroup", "g3", "db1:source", "db3:source");
        foreach (var n in Tables) await t.Cli.OkAsync("add", "sync", "s_" + n, $"tables=public.{n}", $"dbs=g{ServerOf(n) + 1}");

        using var cut = new FerryCli();
        var direct = t.Cli;
        foreach (var cli in new[] { cut, direct })
        {
            SharedStoreRelays.Use(cli, s, t.Database, s.Port, LeaseSeconds);
            cli.Environment["FERRY_DEAD_LINK_SECONDS"] = DeadLinkSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        await cut.OkAsync("start");
        var cutPid = SharedStoreRelays.Pid(cut);
        await Eventually.UntilAsync(() => LeasesAsync(cut), l => l.Values.Sum(x => x.Count) == 4, TimeSpan.FromSeconds(30), "the first relay to lease every sync");
        await direct.OkAsync("start");
        await Eventually.UntilAsync(() => LeasesAsync(cut), l => l.Count == 2 && l.All(kv => kv.Value.Count == 2)
            && l.Single(kv => SharedStoreRelays.IsRelay(kv.Key, cutPid)).Value.Order().SequenceEqual(["s_t1", "s_t2"]),
            TimeSpan.FromSeconds(30), "the relays to hold two syncs each, the cut one s_t1 (db2) and s_t2 (db3)");

        using var stop = new CancellationTokenSource();
        var written = new long[Tables.Length];
        var writer = Task.Run(async () =>
        {
            // Writes on db1 only, each id once: a row lost or delivered twice shows in the counts and the conflicts.
            for (var i = 1; !stop.IsCancellationRequested; i++)
            {
                await t.ExecAsync(0, $"INSERT INTO {Tables[i % 4]} VALUES ($1, 'from db1')", i);
                Interlocked.Increment(ref written[i % 4]);
                await Task.Delay(10);
            }
        });
        foreach (var n in Tables)
            await Eventually.UntilAsync(() => t.ScalarAsync<long>(ServerOf(n), $"SELECT count(*) FROM {n}"), c => c > 10,
                TimeSpan.FromSeconds(30), $"{n} to replicate before the cut");

        // The partition: every connection of the cut relay's process through db3's proxy goes silent, and stays so.
        var cutAt = DateTimeOffset.UtcNow;
        proxy.Only = SocketOwner.Of(cutPid);
        proxy.Blackhole = true;
        var clock = Stopwatch.StartNew();
        var mark = await t.ScalarAsync<int>(0, "SELECT coalesce(max(id), 0) FROM t2");
        using var sampling = new CancellationTokenSource();
        var stall = StallAsync(t, "t1", 1, sampling.Token);
        // s_t2's rows reach db3 again: the other relay runs it. Polled with a query; `ferry status` costs a process start.
        await Eventually.UntilAsync(() => t.ScalarAsync<bool>(2, $"SELECT EXISTS (SELECT 1 FROM t2 WHERE id > {mark})"),
            TimeSpan.FromSeconds(60), "s_t2 to replicate to db3 again");
        var flowing = clock.Elapsed;
        await sampling.CancelAsync();
        var longestGap = await stall;
        // When each relay moved the lease, by their own logs (this host's clock, as cutAt).
        var handedBack = LeaseChange(cut, "sync s_t2 stopped", cutAt);
        var taken = LeaseChange(direct, "sync s_t2 started", cutAt);
        output.WriteLine($"cut from db3: s_t2 handed back {handedBack.TotalSeconds:F1} s after the cut, started by the other relay " +
                         $"{taken.TotalSeconds:F1} s after it, its rows on db3 again {flowing.TotalSeconds:F1} s after it; rows written on db1 for " +
                         $"s_t1 (the cut relay's) never waited more than {longestGap.TotalSeconds:F1} s without one arriving on db2 " +
                         $"(lease {LeaseSeconds} s, dead-link bound {DeadLinkSeconds} s)");
        // Noticing the dead link (D: a command's D/2, its cancel up to two connects of D/4), the grace (a lease), the cut
        // relay's next heartbeat (a third) and stopping the pairs (at most three quarters), the other's next heartbeat
        // (a third), and a few seconds of a loaded machine: D + 3 leases + 3 s.
        Assert.True(taken < TimeSpan.FromSeconds(DeadLinkSeconds + 3 * LeaseSeconds + 3), $"handover took {taken}");
        Assert.True(longestGap < TimeSpan.FromSeconds(2 * LeaseSeconds), $"s_t1 stalled for {longestGap}");
        var after = await LeasesAsync(cut);
        Assert.Equal(["s_t1"], after.Single(kv => SharedStoreRelays.IsRelay(kv.Key, cutPid)).Value);
        Assert.Equal(["s_t2", "s_t3", "s_t4"], after.Single(kv => !SharedStoreRelays.IsRelay(kv.Key, cutPid)).Value.Order());

        // status names what the cut relay cannot reach, in text and JSON.
        using (var doc = JsonDocument.Parse((await direct.OkAsync("status", "--json")).Out))
        {
            var relays = doc.RootElement.GetProperty("relays").EnumerateArray().ToList();
            Assert.Equal(["db3"], relays.Single(r => r.GetProperty("pid").GetInt32() == cutPid).GetProperty("unreachable").EnumerateArray().Select(e => e.GetString()));
            Assert.Empty(relays.Single(r => r.GetProperty("pid").GetInt32() != cutPid).GetProperty("unreachable").EnumerateArray());
        }
        Assert.Contains("cannot reach", (await cut.OkAsync("status")).Out, StringComparison.Ordinal);

        await stop.CancelAsync();
        await writer;
        await Fingerprint.ConvergedAsync(t, new[] { "t1", "t3" }.Select(n => Fingerprint.RowsSql(n)).ToList(), [0, 1], TimeSpan.FromSeconds(60));
        await Fingerprint.ConvergedAsync(t, new[] { "t2", "t4" }.Select(n => Fingerprint.RowsSql(n)).ToList(), [0, 2], TimeSpan.FromSeconds(60));
        for (var i = 0; i < Tables.Length; i++)
            Assert.Equal(written[i], await t.ScalarAsync<long>(ServerOf(Tables[i]), $"SELECT count(*) FROM {Tables[i]}"));
        foreach (var server in new[] { 0, 1, 2 })
            Assert.Equal(0L, await servers[server].ScalarAsync<long>(t.Database, "SELECT count(*) FROM ferry.conflicts", default));

        // The link back: the cut relay's probe connects, and it reports db3 reachable again.
        proxy.Heal();
        var healed = Stopwatch.StartNew();
        await Eventually.UntilAsync(() => UnreachableAsync(direct, cutPid), u => u.Count == 0, TimeSpan.FromSeconds(LeaseSeconds * 3 + DeadLinkSeconds),
            "the cut relay to reach db3 again");
        output.WriteLine($"healed: db3 reachable again for the cut relay {healed.Elapsed.TotalSeconds:F1} s after the link came back");
        await cut.OkAsync("stop");
        await direct.OkAsync("stop");
    }

    /// <summary>
    /// Until cancelled, the longest time rows written on db1 to <paramref name="table"/> waited while none arrived on
    /// <paramref name="server"/>: zero for a sync that keeps delivering, however slowly the writer writes.
    /// </summary>
    private static async Task<TimeSpan> StallAsync(Topology t, string table, int server, CancellationToken ct)
    {
        var longest = TimeSpan.Zero;
        var clock = Stopwatch.StartNew();
        TimeSpan? waitingSince = null;
        var arrived = -1L;
        while (!ct.IsCancellationRequested)
        {
            // The source first: what it has then is at most what it has when the target is read.
            var written = await t.ScalarAsync<long>(0, $"SELECT count(*) FROM {table}");
            var there = await t.ScalarAsync<long>(server, $"SELECT count(*) FROM {table}");
            if (there != arrived) (arrived, waitingSince) = (there, there < written ? clock.Elapsed : null);
            else if (there < written) waitingSince ??= clock.Elapsed;
            if (waitingSince is { } w) longest = TimeSpan.FromTicks(Math.Max(longest.Ticks, (clock.Elapsed - w).Ticks));
            try
            {
                await Task.Delay(100, ct);
            }
            catch (OperationCanceledException)
            {
            }
        }
        return longest;
    }

    private static Task<Dictionary<string, List<string>>> LeasesAsync(FerryCli cli) => SharedStoreRelays.LeasesAsync(cli, LeaseSeconds);

    private static async Task<List<string>> UnreachableAsync(FerryCli cli, int pid)
    {
        using var doc = JsonDocument.Parse((await cli.OkAsync("status", "--json")).Out);
        return doc.RootElement.GetProperty("relays").EnumerateArray().Single(r => r.GetProperty("pid").GetInt32() == pid)
            .GetProperty("unreachable").EnumerateArray().Select(e => e.GetString()!).ToList();
    }

    /// <summary>How long after <paramref name="since"/> the relay first logged a lease change that says <paramref name="what"/>.</summary>
    private static TimeSpan LeaseChange(FerryCli relay, string what, DateTimeOffset since)
    {
        foreach (var line in relay.LogText.Split('\n').Where(l => l.Contains("Leases:", StringComparison.Ordinal) && l.Contains(what, StringComparison.Ordinal)))
            if (DateTimeOffset.TryParse(line[..24], System.Globalization.CultureInfo.InvariantCulture,
                    System.Globalization.DateTimeStyles.AssumeUniversal, out var at) && at >= since)
                return at - since;
        throw new Xunit.Sdk.XunitException($"the relay never logged '{what}' after the cut:\n{string.Join('\n', relay.LogText.Split('\n').TakeLast(40))}");
    }
}
