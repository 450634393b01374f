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
}
