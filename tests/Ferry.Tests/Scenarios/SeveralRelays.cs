using System.Diagnostics;
using System.Text.Json;
using Ferry.Local;
using Ferry.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// No single point of failure: three relays (separate homes, one PostgreSQL control store) divide four syncs by
/// leases; the one holding the most is killed with SIGKILL while both masters take writes, the others take its syncs
/// over within the lease time, and every database converges with nothing lost or applied twice.
/// </summary>
[Collection("servers")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SeveralRelays(ServerFixture servers, ITestOutputHelper output)
{
    private const int Syncs = 4;
    private const double LeaseSeconds = 3;

    [Fact]
    public async Task a_killed_relays_syncs_are_taken_over_within_the_lease_time_and_nothing_is_lost_or_applied_twice()
    {
        var tables = Enumerable.Range(1, Syncs).Select(i => $"t{i}").ToList();
        await using var t = await SetUpAsync(nameof(a_killed_relays_syncs_are_taken_over_within_the_lease_time_and_nothing_is_lost_or_applied_twice), tables);
        var s = servers[0];
        using var second = new FerryCli();
        using var third = new FerryCli();
        var relays = new[] { t.Cli, second, third };
        foreach (var cli in relays) SharedStore(cli, t, s.Port);
        t.Cli.Environment.Remove("FERRY_STORE"); // the installing home finds the store through its store.conf
        await Task.WhenAll(relays.Select(r => r.OkAsync("start")));

        // Every sync leased, each relay at most its fair share (4 syncs over 3 relays: 2).
        var before = await Eventually.UntilAsync(() => LeasesAsync(t.Cli), l => l.Count == 3 && l.Values.Sum(x => x.Count) == Syncs
            && l.Values.All(x => x.Count <= 2), TimeSpan.FromSeconds(30), "three relays sharing the four syncs");

        using var stop = new CancellationTokenSource();
        var written = new long[2];
        var writers = Enumerable.Range(0, 2).Select(server => Task.Run(async () =>
        {
            // db1 writes odd ids, db2 even ones: every row is one insert on one master.
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                await t.ExecAsync(server, $"INSERT INTO {tables[i % Syncs]} VALUES ($1, 'from db{server + 1}')", 2 * i + server + 1);
                Interlocked.Increment(ref written[server]);
                await Task.Delay(10);
            }
        })).ToList();
        await Eventually.UntilAsync(() => Task.FromResult(Interlocked.Read(ref written[0]) + Interlocked.Read(ref written[1]) > 100),
            TimeSpan.FromSeconds(30), "writes on both masters");

        // Kill the relay holding the most leases.
        var pids = relays.ToDictionary(r => r, SharedStoreRelays.Pid);
        var (victimId, victimSyncs) = before.OrderByDescending(kv => kv.Value.Count).First();
        var victim = relays.Single(r => SharedStoreRelays.IsRelay(victimId, pids[r]));
        var survivor = relays.First(r => r != victim);
        var clock = Stopwatch.StartNew();
        Assert.True(await RelayKiller.KillAsync(victim));
        // Taken over: the survivors hold every sync, and each of the victim's syncs has moved rows since.
        await Eventually.UntilAsync(() => LeasesAsync(survivor), l => l.Where(kv => kv.Key != victimId).Sum(kv => kv.Value.Count) == Syncs,
            TimeSpan.FromSeconds(LeaseSeconds * 4 + 10), "the survivors to lease every sync");
        var takenOver = clock.Elapsed;
        foreach (var sync in victimSyncs)
        {
            var table = sync["s_".Length..];
            var mark = await t.ScalarAsync<int>(0, $"SELECT coalesce(max(id), 0) FROM {table} WHERE id % 2 = 1");
            await Eventually.UntilAsync(() => t.ScalarAsync<bool>(1, $"SELECT EXISTS (SELECT 1 FROM {table} WHERE id > {mark} AND id % 2 = 1)"),
                TimeSpan.FromSeconds(20), $"{sync} to replicate again after the takeover");
        }
        var flowing = clock.Elapsed;
        output.WriteLine($"takeover: leases moved {takenOver.TotalSeconds:F1} s after the kill, the victim's {victimSyncs.Count} syncs " +
                         $"replicating again {flowing.TotalSeconds:F1} s after it (lease {LeaseSeconds} s, heartbeat {LeaseSeconds / 3} s)");
        output.WriteLine("heartbeats that failed, per relay: " +
                         string.Join(", ", relays.Select(r => r.LogText.Split("Cannot renew").Length - 1)));
        Assert.True(takenOver < TimeSpan.FromSeconds(LeaseSeconds * 2 + 4), $"takeover took {takenOver}");
        // On a PostgreSQL store every good batch's status record once failed the pair (42P08) and cost it a backoff.
        foreach (var r in relays.Where(r => r != victim))
            Assert.DoesNotContain("could not determine data type", r.LogText, StringComparison.Ordinal);

        await stop.CancelAsync();
        await Task.WhenAll(writers);
        var total = written[0] + written[1];
        var queries = tables.Select(n => Fingerprint.RowsSql(n)).ToList();
        await Fingerprint.ConvergedAsync(t, queries, [0, 1], TimeSpan.FromSeconds(60));
        var rows = 0L;
        foreach (var n in tables) rows += await t.ScalarAsync<long>(1, $"SELECT count(*) FROM {n}");
        Assert.Equal(total, rows);
        // Each id was written once, on one master: a row delivered twice, or by two relays at once, would show here.
        foreach (var server in new[] { 0, 1 })
            Assert.Equal(0L, await servers[server].ScalarAsync<long>(t.Database, "SELECT count(*) FROM ferry.conflicts", default));

        // A verb run on a host whose relay is dead reaches the live relays through the store, within a heartbeat.
        await victim.OkAsync("pause", "s_t1");
        await Eventually.UntilAsync(() => LeasesAsync(survivor), l => l.Values.Sum(x => x.Count) == Syncs - 1 && l.Values.All(x => !x.Contains("s_t1")),
            TimeSpan.FromSeconds(LeaseSeconds * 3), "the paused sync's lease to be dropped");
        await t.ExecAsync(0, "INSERT INTO t1 VALUES (-1, 'written while paused')");
        await victim.OkAsync("resume", "s_t1");
        await Eventually.UntilAsync(() => t.ScalarAsync<bool>(1, "SELECT EXISTS (SELECT 1 FROM t1 WHERE id = -1)"),
            TimeSpan.FromSeconds(LeaseSeconds * 3 + 10), "the resumed sync to replicate");

        // status names every live relay with its leases and heartbeat age; /metrics carries each one's lease count.
        var text = (await survivor.OkAsync("status")).Out;
        Assert.Contains("Relays on this store", text, StringComparison.Ordinal);
        var fromDeadHome = (await victim.OkAsync("status")).Out;
        Assert.Contains("Relay: none in this home; the relays listed below run the syncs", fromDeadHome, StringComparison.Ordinal);
        Assert.DoesNotContain(": stopped;", fromDeadHome, StringComparison.Ordinal);
        var json = await survivor.OkAsync("status", "--json");
        Assert.Contains("\"relays\"", json.Out, StringComparison.Ordinal);
        foreach (var r in relays.Where(r => r != victim)) await r.OkAsync("stop");
    }

    [Fact]
    public async Task a_relay_cut_off_from_the_store_stops_its_pairs_within_the_lease_time_and_another_takes_them()
    {
        var tables = new List<string> { "t1", "t2" };
        await using var t = await SetUpAsync(nameof(a_relay_cut_off_from_the_store_stops_its_pairs_within_the_lease_time_and_another_takes_them), tables);
        // The second relay reaches the store through a proxy, the databases directly.
        await using var proxy = FaultProxy.Start(servers[0]);
        using var cut = new FerryCli();
        SharedStore(cut, t, proxy.Port);
        SharedStore(t.Cli, t, servers[0].Port);
        await t.Cli.OkAsync("start");
        await cut.OkAsync("start", "--prefers=db2");
        var cutPid = SharedStoreRelays.Pid(cut);
        var before = await Eventually.UntilAsync(() => LeasesAsync(t.Cli), l => l.Count == 2 && l.Values.All(x => x.Count == 1),
            TimeSpan.FromSeconds(30), "two relays holding one sync each");
        var cutSync = before.Single(kv => SharedStoreRelays.IsRelay(kv.Key, cutPid)).Value.Single();
        // What it registered: its preference (from --prefers), and the lease count in its /metrics.
        using (var doc = JsonDocument.Parse((await t.Cli.OkAsync("status", "--json")).Out))
            Assert.Equal("db2", doc.RootElement.GetProperty("relays").EnumerateArray()
                .Single(r => r.GetProperty("pid").GetInt32() == cutPid).GetProperty("prefers").EnumerateArray().Single().GetString());
        var port = JsonDocument.Parse(File.ReadAllText(Path.Combine(cut.Home, "relay.json"))).RootElement.GetProperty("HttpPort").GetInt32();
        using (var http = new HttpClient())
            Assert.Matches(@"ferry_relay_leases\{relay=""[^""]+""\} 1\b", await http.GetStringAsync($"http://127.0.0.1:{port}/metrics"));

        static int Stops(FerryCli cli) => cli.LogText.Split("No lease renewal").Length - 1;
        var stopsBefore = Stops(cut);
        var clock = Stopwatch.StartNew();
        proxy.Blackhole = true;
        await Eventually.UntilAsync(() => Task.FromResult(Stops(cut) > stopsBefore),
            TimeSpan.FromSeconds(LeaseSeconds * 3), "the cut-off relay to stop its pairs");
        var stopped = clock.Elapsed;
        await Eventually.UntilAsync(() => LeasesAsync(t.Cli), l => l.Values.Sum(x => x.Count) == 2 && l.Count == 1,
            TimeSpan.FromSeconds(LeaseSeconds * 4 + 10), $"the other relay to take {cutSync}");
        output.WriteLine($"cut off: pairs stopped {stopped.TotalSeconds:F1} s after the cut, {cutSync} taken over {clock.Elapsed.TotalSeconds:F1} s " +
                         $"after it; the relay had stopped for want of renewal {stopsBefore} times before the cut");
        Assert.True(stopped < TimeSpan.FromSeconds(LeaseSeconds), $"the cut-off relay ran {stopped} past its last renewal");

        var table = cutSync["s_".Length..];
        await t.ExecAsync(0, $"INSERT INTO {table} VALUES (1, 'after the cut')");
        await t.ExecAsync(1, $"INSERT INTO {table} VALUES (2, 'after the cut')");
        await Fingerprint.ConvergedAsync(t, [Fingerprint.RowsSql(table)], [0, 1], TimeSpan.FromSeconds(30));
        Assert.Equal(2L, await t.ScalarAsync<long>(1, $"SELECT count(*) FROM {table}"));
        await t.Cli.OkAsync("stop");
    }

    /// <summary>Two masters; the control store in db1 (as the replicating role); one sync per table.</summary>
    private async Task<Topology> SetUpAsync(string name, IReadOnlyList<string> tables)
    {
        var t = await Topology.CreateAsync(servers, name,
            string.Join("; ", tables.Select(n => $"CREATE TABLE {n} (id int PRIMARY KEY, v text NOT NULL)")), tables.Select(n => "public." + n));
        var s = servers[0];
        t.Cli.Environment["PGPASSWORD"] = RestrictedRole.Password;
        await t.Cli.OkAsync("install", $"--dbname={t.Database}", $"--dbhost={s.Host}", $"--dbport={s.Port}", $"--dbuser={RestrictedRole.User}");
        await t.AddDatabasesAsync(2);
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:source");
        foreach (var n in tables) await t.Cli.OkAsync("add", "sync", "s_" + n, $"tables=public.{n}", "dbs=g");
        return t;
    }

    /// <summary>A relay home on the test's store, reached on <paramref name="port"/>, with short leases.</summary>
    private void SharedStore(FerryCli cli, Topology t, int port) => SharedStoreRelays.Use(cli, servers[0], t.Database, port, LeaseSeconds);

    private static Task<Dictionary<string, List<string>>> LeasesAsync(FerryCli cli) => SharedStoreRelays.LeasesAsync(cli, LeaseSeconds);
}
