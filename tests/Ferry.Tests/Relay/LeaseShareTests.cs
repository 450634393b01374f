using Ferry.Relay;
using Xunit;

namespace Ferry.Tests.Relay;

/// <summary>How a heartbeat divides the syncs (pure: no server).</summary>
public sealed class LeaseShareTests
{
    private static readonly SyncSources[] Syncs =
    [
        new("s1", ["db1", "db2"]), new("s2", ["db1", "db2"]), new("s3", ["office"]), new("s4", ["office"]),
    ];

    private static RelayIdentity Relay(string id, params string[] prefers) => new(id, "host", 1, null, prefers);

    [Fact]
    public void a_relay_takes_its_fair_share_the_ones_it_prefers_first_and_never_a_live_lease()
    {
        var me = Relay("b", "office");
        var relays = new[] { new LiveRelay("a", 100, []), new LiveRelay("b", 100, ["office"]), new LiveRelay("c", 99, []) };
        var d = LeaseShare.Decide(me, 100, 15, Syncs, relays, [new Lease("s3", "a", 110)]);
        // 4 syncs over 3 live relays: 2 each at most; s3 is a's until it expires.
        Assert.Equal(["s1", "s4"], d.Take.Order());
        Assert.Equal(["s1", "s4"], d.Run.Order());
    }

    [Fact]
    public void a_dead_relays_leases_expire_and_the_survivors_share_grows_to_cover_them()
    {
        var me = Relay("a");
        // c last heartbeat 20 s ago (lease 15 s): dead; its leases expired at 95.
        var relays = new[] { new LiveRelay("a", 100, []), new LiveRelay("b", 100, []), new LiveRelay("c", 80, []) };
        var leases = new[] { new Lease("s1", "a", 110), new Lease("s2", "b", 110), new Lease("s3", "c", 95), new Lease("s4", "c", 95) };
        var d = LeaseShare.Decide(me, 100, 15, Syncs, relays, leases);
        Assert.Equal(["s3"], d.Take);
        Assert.Equal(["s1", "s3"], d.Run.Order());
    }

    [Fact]
    public void a_relay_hands_back_surplus_when_others_join_and_what_a_relay_with_room_prefers()
    {
        var me = Relay("a");
        var relays = new[] { new LiveRelay("a", 100, []), new LiveRelay("b", 100, ["office"]) };
        var leases = Syncs.Select(s => new Lease(s.Sync, "a", 110)).Append(new Lease("gone", "a", 110)).ToArray();
        var d = LeaseShare.Decide(me, 100, 15, Syncs, relays, leases);
        // Share 2: a keeps s1, s2 and hands back s3, s4, which b prefers; a lease on a removed sync is dropped.
        Assert.Equal(["s1", "s2"], d.Run.Order());
        Assert.Equal(["s3", "s4"], d.Surplus.Order());
        Assert.Equal(["gone"], d.Forget);
        Assert.Empty(d.Take);
    }

    // db1 → db2 and db1 → db3, two syncs each: what a relay cut off from db3 alone divides.
    private static readonly SyncSources[] Cut =
    [
        new("s12a", ["db1"]) { Databases = ["db1", "db2"] }, new("s12b", ["db1"]) { Databases = ["db1", "db2"] },
        new("s13a", ["db1"]) { Databases = ["db1", "db3"] }, new("s13b", ["db1"]) { Databases = ["db1", "db3"] },
    ];

    private static LiveRelay Cannot(string id, params string[] unreachable) => new(id, 100, []) { Unreachable = unreachable.ToHashSet() };

    [Fact]
    public void a_relay_cut_off_from_one_database_hands_back_the_syncs_there_and_keeps_the_others()
    {
        var relays = new[] { Cannot("a", "db3"), Cannot("b") };
        var leases = new[] { new Lease("s12a", "a", 110), new Lease("s13a", "a", 110), new Lease("s12b", "b", 110), new Lease("s13b", "b", 110) };
        var d = LeaseShare.Decide(Relay("a"), 100, 15, Cut, relays, leases);
        Assert.Equal(["s12a"], d.Run.Order());
        Assert.Equal(["s13a"], d.Surplus.Order());
        Assert.Empty(d.Take);
    }

    [Fact]
    public void the_relay_that_reaches_every_database_takes_a_cut_off_relays_sync_beyond_its_share_and_keeps_it()
    {
        var relays = new[] { Cannot("a", "db3"), Cannot("b") };
        // a handed s13a back; b already holds its share of the ordinary syncs (s12b: 2 over 2 relays) and s13b.
        var leases = new[] { new Lease("s12a", "a", 110), new Lease("s12b", "b", 110), new Lease("s13b", "b", 110) };
        var d = LeaseShare.Decide(Relay("b"), 100, 15, Cut, relays, leases);
        Assert.Equal(["s13a"], d.Take);
        Assert.Equal(["s12b", "s13a", "s13b"], d.Run.Order());
        Assert.Empty(d.Surplus);
    }

    [Fact]
    public void a_relay_never_takes_a_sync_it_cannot_reach_while_another_can_but_one_nobody_reaches_stays_where_it_is()
    {
        var leases = new[] { new Lease("s12b", "b", 110), new Lease("s13b", "b", 110) };
        var d = LeaseShare.Decide(Relay("a"), 100, 15, Cut, [Cannot("a", "db3"), Cannot("b")], leases);
        Assert.Equal(["s12a"], d.Take);
        // db3 down for both: moving its syncs would help nothing; a keeps what it holds, up to its share as always.
        var held = new[] { new Lease("s12a", "a", 110), new Lease("s13a", "a", 110), new Lease("s12b", "b", 110), new Lease("s13b", "b", 110) };
        var nobody = LeaseShare.Decide(Relay("a"), 100, 15, Cut, [Cannot("a", "db3"), Cannot("b", "db3")], held);
        Assert.Equal(["s12a", "s13a"], nobody.Run.Order());
        Assert.Empty(nobody.Surplus);
        // A dead relay's report counts for nothing: b is silent, so a is the only live relay and runs everything.
        var alone = LeaseShare.Decide(Relay("a"), 100, 15, Cut, [Cannot("a", "db3"), Cannot("b") with { HeartbeatAt = 50 }],
            held.Where(l => l.RelayId == "a").ToArray());
        Assert.Equal(["s12a", "s12b", "s13a", "s13b"], alone.Run.Order());
    }

    // w1, w2 share db1's WAL capture, w2 and w3 share db2's (so w1, w2, w3 are one unit); t1..t3 are trigger-captured.
    private static readonly SyncSources[] Wal =
    [
        new("t1", ["db5"]) { Databases = ["db5", "db6"] }, new("t2", ["db5"]) { Databases = ["db5", "db6"] },
        new("t3", ["db5"]) { Databases = ["db5", "db6"] },
        new("w1", ["db1"]) { Databases = ["db1", "db3"], Wal = ["db1"] }, new("w2", ["db1", "db2"]) { Databases = ["db1", "db2"], Wal = ["db1", "db2"] },
        new("w3", ["db4"]) { Databases = ["db2", "db4"], Wal = ["db2"] },
    ];

    private static readonly LiveRelay[] Two = [new("a", 100, []), new("b", 100, [])];

    /// <summary>Every sync's holder once a and b have each decided in turn, until nothing changes (leases handed back at once).</summary>
    private static Dictionary<string, string> Settle(SyncSources[] syncs, LiveRelay[] relays, Dictionary<string, string> held)
    {
        for (var round = 0; round < 10; round++)
        {
            var before = string.Join(",", held.OrderBy(h => h.Key).Select(h => h.Key + "=" + h.Value));
            foreach (var r in relays)
            {
                var d = LeaseShare.Decide(Relay(r.Id, [.. r.Prefers]), 100, 15, syncs, relays,
                    held.Select(h => new Lease(h.Key, h.Value, 110)).ToArray());
                foreach (var s in d.Surplus) held.Remove(s);
                foreach (var s in d.Take) held[s] = r.Id;
                Assert.True(d.Run.SetEquals(held.Where(h => h.Value == r.Id).Select(h => h.Key)), $"{r.Id} runs only what it holds");
            }
            if (string.Join(",", held.OrderBy(h => h.Key).Select(h => h.Key + "=" + h.Value)) == before) return held;
        }
        throw new Xunit.Sdk.XunitException("the leases never settled: " + string.Join(",", held));
    }

    [Fact]
    public void syncs_sharing_a_wal_captured_database_are_one_unit_transitively_and_trigger_syncs_stay_alone()
    {
        var units = LeaseShare.Units(Wal);
        Assert.Equal(["t1", "t2", "t3", "w1+w2+w3"], units.Select(u => string.Join("+", u.Syncs)));
        Assert.Equal(["db1", "db2"], units.Single(u => u.Syncs.Count == 3).Wal);
    }

    [Fact]
    public void two_relays_keep_a_wal_unit_together_spread_the_trigger_syncs_and_a_takeover_moves_the_whole_unit()
    {
        var held = Settle(Wal, Two, []);
        // 6 syncs over 2 relays, share 3: the unit (3) on one relay, the three trigger syncs on the other.
        var unitHome = held["w1"];
        Assert.All(new[] { "w2", "w3" }, s => Assert.Equal(unitHome, held[s]));
        Assert.All(new[] { "t1", "t2", "t3" }, s => Assert.NotEqual(unitHome, held[s]));

        // The unit's relay dies: once its leases expire, the survivor takes the whole unit in one heartbeat.
        var survivor = unitHome == "a" ? "b" : "a";
        var leases = held.Select(h => new Lease(h.Key, h.Value, h.Value == survivor ? 110 : 95)).ToArray();
        var relays = Two.Select(r => r.Id == survivor ? r : r with { HeartbeatAt = 80 }).ToArray();
        var d = LeaseShare.Decide(Relay(survivor), 100, 15, Wal, relays, leases);
        Assert.Equal(["w1", "w2", "w3"], d.Take.Order());
        Assert.Equal(Wal.Select(s => s.Sync), d.Run.Order());

        // With one more trigger sync than the share leaves room for, a unit is never split to fill it.
        var crowded = Wal.Append(new SyncSources("t4", ["db5"]) { Databases = ["db5", "db6"] }).ToArray();
        var spread = Settle(crowded, Two, []);
        Assert.Single(new[] { "w1", "w2", "w3" }.Select(s => spread[s]).Distinct());
        Assert.Equal(7, spread.Count);
    }

    [Fact]
    public void a_unit_split_between_relays_gathers_on_the_one_holding_most_of_it_and_moves_whole_when_a_database_is_cut_off()
    {
        // w1 and w2 ran apart until db1 switched to capture=wal: a holds two of the unit, b one, so b hands w2 back.
        var split = new Dictionary<string, string> { ["w1"] = "a", ["w3"] = "a", ["w2"] = "b", ["t1"] = "b", ["t2"] = "b", ["t3"] = "a" };
        var d = LeaseShare.Decide(Relay("b"), 100, 15, Wal, Two, split.Select(h => new Lease(h.Key, h.Value, 110)).ToArray());
        Assert.Equal(["w2"], d.Surplus.Order());
        Assert.DoesNotContain("w2", d.Run);
        var held = Settle(Wal, Two, split);
        Assert.Single(new[] { "w1", "w2", "w3" }.Select(s => held[s]).Distinct());

        // Whoever holds the unit cannot reach db3 (w1's target): the whole unit moves, w2 and w3 with it.
        var home = held["w1"];
        var cut = Two.Select(r => r.Id == home ? r with { Unreachable = new HashSet<string> { "db3" } } : r).ToArray();
        var moved = Settle(Wal, cut, held);
        Assert.All(new[] { "w1", "w2", "w3" }, s => Assert.NotEqual(home, moved[s]));
    }

    [Fact]
    public void a_relay_that_prefers_one_sync_of_a_unit_takes_the_whole_unit()
    {
        var relays = new[] { new LiveRelay("a", 100, []), new LiveRelay("b", 100, ["db4"]) };
        var held = Settle(Wal, relays, []);
        Assert.All(new[] { "w1", "w2", "w3" }, s => Assert.Equal("b", held[s]));
        Assert.All(new[] { "t1", "t2", "t3" }, s => Assert.Equal("a", held[s]));
    }

    [Fact]
    public void a_sync_binds_to_a_wal_captured_database_it_reads_or_writes_only_while_some_pair_reads_from_it()
    {
        // db1 (WAL) is read by s1 and written by s2; db9 (WAL) is only ever written: nothing captures it, nothing waits.
        Pair[] pairs = [new("s1", "db1", "db2"), new("s2", "db3", "db1"), new("s3", "db3", "db9"), new("s4", "db5", "db6")];
        var syncs = RelayPlan.Syncs(pairs, new HashSet<string> { "db1", "db9" });
        Assert.Equal(["db1"], syncs.Single(x => x.Sync == "s2").Wal);
        Assert.Empty(syncs.Single(x => x.Sync == "s3").Wal);
        Assert.Equal(["s1+s2", "s3", "s4"], LeaseShare.Units(syncs).Select(u => string.Join("+", u.Syncs)));
    }
}
