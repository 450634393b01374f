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
}
