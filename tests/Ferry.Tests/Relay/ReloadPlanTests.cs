using Ferry.Relay;
using Ferry.Resolve;
using Xunit;

namespace Ferry.Tests.Relay;

/// <summary>What a reload counts as a change, and how it says what it did: no server needed.</summary>
public sealed class ReloadPlanTests
{
    private static Database Db(string name, params (string Key, string Value)[] settings) =>
        new(name, settings.ToDictionary(s => s.Key, s => s.Value), "secret");

    private static PairSetup Setup(Sync sync, Database source, Database target, params string[] tables)
    {
        var group = new DbGroup("g", [new DbGroupMember(source.Name, Role.Source), new DbGroupMember(target.Name, Role.Target)]);
        return new PairSetup(new Pair(sync.Name, source.Name, target.Name), sync, group,
            new Herd("h", tables.Select(t => TableName.Parse(t)).ToList()), source, target);
    }

    [Fact]
    public void a_pair_changes_with_its_rule_tables_or_either_database_and_not_with_the_order_settings_were_read_in()
    {
        var sync = new Sync("s", "h", "g", ConflictRule.Latest, true);
        var db1 = Db("db1", ("host", "a"), ("port", "5432"));
        var db2 = Db("db2", ("host", "b"));
        var before = RelayPlan.Definition(Setup(sync, db1, db2, "items"));

        Assert.Equal(before, RelayPlan.Definition(Setup(sync, Db("db1", ("port", "5432"), ("host", "a")), db2, "items")));
        Assert.NotEqual(before, RelayPlan.Definition(Setup(sync with { ConflictRule = ConflictRule.Source }, db1, db2, "items")));
        Assert.NotEqual(before, RelayPlan.Definition(Setup(sync, db1, db2, "items", "notes")));
        Assert.NotEqual(before, RelayPlan.Definition(Setup(sync, db1, Db("db2", ("host", "c")), "items")));
        Assert.NotEqual(before, RelayPlan.Definition(Setup(sync, db1 with { Password = "other" }, db2, "items")));
        Assert.NotEqual(before, RelayPlan.Definition(Setup(sync, db1, db2, "items") with { TargetKeepsVersions = false }));
    }

    [Fact]
    public void the_report_lists_changed_syncs_first_with_their_pair_counts()
    {
        Pair P(string sync, string target) => new(sync, "db1", target);
        var before = new[] { P("a", "db2"), P("a", "db3"), P("b", "db2"), P("c", "db2") };
        var after = new[] { P("a", "db2"), P("a", "db3"), P("b", "db2"), P("d", "db2"), P("d", "db3") };
        var report = ReloadReport.Of(before, after, [P("a", "db3")], []);
        Assert.Equal("reloaded: sync a restarted 1 of 2 pairs, sync c stopped (1 pair), sync d started (2 pairs), sync b unchanged",
            report.ToString());
        Assert.True(report.Changed);
        var quiet = ReloadReport.Of(after, after, [], []);
        Assert.False(quiet.Changed);
        Assert.Equal("reloaded: sync a unchanged, sync b unchanged, sync d unchanged", quiet.ToString());
        Assert.Equal("reloaded: no active sync; listener on db1 stopped", ReloadReport.Of([], [], [], ["listener on db1 stopped"]).ToString());
    }
}
