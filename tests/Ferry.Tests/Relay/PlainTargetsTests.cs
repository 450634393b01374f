using Xunit;

namespace Ferry.Tests.Relay;

/// <summary>Which databases keep no row versions: the configuration alone decides, so no server is needed.</summary>
public sealed class PlainTargetsTests
{
    private static (Sync, DbGroup) SyncOf(string name, params string[] members) =>
        (new Sync(name, "h", name + "_g", Ferry.Resolve.ConflictRule.Latest, Active: true),
         new DbGroup(name + "_g", members.Select(m => m.Split(':')).Select(p => new DbGroupMember(p[0], Enum.Parse<Role>(p[1], true))).ToList()));

    [Fact]
    public void replicas_of_one_master_are_plain()
    {
        var plain = PlainTargets.Of([SyncOf("s", "a:source", "b:target", "c:target")]);
        Assert.Equal(["b", "c"], plain.Order());
    }

    [Fact]
    public void a_replica_of_two_masters_keeps_versions_and_so_do_the_masters()
    {
        // The replica must decide between the masters' versions exactly as they do, or it would diverge.
        Assert.Empty(PlainTargets.Of([SyncOf("s", "a:source", "b:source", "c:target")]));
    }

    [Fact]
    public void a_database_that_other_syncs_read_from_keeps_versions()
    {
        // A chain a -> b -> c: b forwards what it receives, and forwarding reads b's versions.
        var plain = PlainTargets.Of([SyncOf("ab", "a:source", "b:target"), SyncOf("bc", "b:source", "c:target")]);
        Assert.Equal(["c"], plain.Order());
    }

    [Fact]
    public void a_target_of_two_syncs_is_plain_only_when_both_come_from_the_same_source()
    {
        Assert.Equal(["c"], PlainTargets.Of([SyncOf("s1", "a:source", "c:target"), SyncOf("s2", "a:source", "c:target")]).Order());
        Assert.Empty(PlainTargets.Of([SyncOf("s1", "a:source", "c:target"), SyncOf("s2", "b:source", "c:target")]));
    }

    [Fact]
    public void a_paused_sync_counts_too()
    {
        // Its pairs may run again: a target it feeds from another master must not lose its versions meanwhile.
        var paused = SyncOf("s2", "b:source", "c:target");
        paused.Item1 = paused.Item1 with { Active = false };
        Assert.Empty(PlainTargets.Of([SyncOf("s1", "a:source", "c:target"), paused]));
    }
}
