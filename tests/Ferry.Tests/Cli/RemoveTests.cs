using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>`ferry remove sync | dbgroup | herd | database`: in dependency order, all or nothing, user data untouched.</summary>
[Collection("servers")]
public sealed class RemoveTests(ServerFixture servers)
{
    private async Task<Topology> WithSyncAsync(string test)
    {
        var t = await Topology.CreateAsync(servers, test, "CREATE TABLE items (id int PRIMARY KEY, name text)", ["public.items"]);
        await t.AddDatabasesAsync(2);
        // Two masters: both have capture triggers for remove to take away.
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:source");
        await t.Cli.OkAsync("add", "table", "items", "herd=h");
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
        return t;
    }

    [Fact]
    public async Task remove_sync_drops_the_capture_triggers_and_leaves_user_data()
    {
        await using var t = await WithSyncAsync(nameof(remove_sync_drops_the_capture_triggers_and_leaves_user_data));
        await t.ExecAsync(0, "INSERT INTO items SELECT g, 'row ' || g FROM generate_series(1, 10) g");
        var before = await t.DumpAsync(0, "items");

        var r = await t.Cli.OkAsync("remove", "sync", "s");
        Assert.Contains("Removed sync s.", r.Out, StringComparison.Ordinal);
        Assert.Equal("", r.Err);
        for (var i = 0; i < 2; i++)
            Assert.Equal(0L, await Refusal.CaptureTriggersAsync(servers[i], t.Database, "public.items"));
        Assert.Equal(before, await t.DumpAsync(0, "items"));
        // The application goes on writing, now without ferry in the way.
        await t.ExecAsync(0, "UPDATE items SET name = 'after' WHERE id = 1");
        Assert.DoesNotMatch(@"(?m)^s\s", (await t.Cli.OkAsync("list", "syncs")).Out);
    }

    [Fact]
    public async Task remove_sync_with_a_database_out_of_reach_removes_it_and_says_what_was_left_behind()
    {
        await using var t = await WithSyncAsync(nameof(remove_sync_with_a_database_out_of_reach_removes_it_and_says_what_was_left_behind));
        await servers[1].ExecuteAsync("postgres", $"REVOKE CONNECT ON DATABASE \"{t.Database}\" FROM PUBLIC, {RestrictedRole.User}", default);
        // A dead disk must not pin a sync forever: the sync goes, the leftover triggers are named with the fix.
        var r = await t.Cli.OkAsync("remove", "sync", "s");
        Assert.Contains("Could not remove the capture triggers from db2", r.Err, StringComparison.Ordinal);
        Assert.Matches(@"DROP FUNCTION IF EXISTS ""ferry"".""capture_public_items_[0-9a-f]{8}""\(\) CASCADE;", r.Err);
        Assert.Equal(0L, await Refusal.CaptureTriggersAsync(servers[0], t.Database, "public.items"));
        Assert.Equal(4L, await Refusal.CaptureTriggersAsync(servers[1], t.Database, "public.items"));
    }

    [Fact]
    public async Task remove_database_is_refused_while_a_dbgroup_uses_it_naming_the_dbgroup()
    {
        await using var t = await WithSyncAsync(nameof(remove_database_is_refused_while_a_dbgroup_uses_it_naming_the_dbgroup));
        await t.Cli.RefusesAsync(Refusal.Failure, ["remove", "database", "db2"], "dbgroup g", "ferry remove dbgroup g");
        await t.Cli.RefusesAsync(Refusal.Failure, ["remove", "dbgroup", "g"], "sync s", "ferry remove sync s");
        await t.Cli.RefusesAsync(Refusal.Failure, ["remove", "herd", "h"], "sync s", "ferry remove sync s");
    }

    [Fact]
    public async Task removing_in_dependency_order_empties_the_store()
    {
        await using var t = await WithSyncAsync(nameof(removing_in_dependency_order_empties_the_store));
        await t.Cli.OkAsync("remove", "sync", "s");
        await t.Cli.OkAsync("remove", "dbgroup", "g");
        await t.Cli.OkAsync("remove", "relgroup", "h");
        await t.Cli.OkAsync("remove", "db", "db1", "db2");
        var all = (await t.Cli.OkAsync("list", "all")).Out;
        foreach (var name in new[] { "db1", "db2", "g ", "h ", "s " })
            Assert.DoesNotContain("\n" + name, all, StringComparison.Ordinal);
    }

    [Fact]
    public async Task removing_several_where_one_is_unknown_removes_none()
    {
        await using var t = await WithSyncAsync(nameof(removing_several_where_one_is_unknown_removes_none));
        await t.Cli.OkAsync("add", "herd", "spare");
        await t.Cli.RefusesAsync(Refusal.Failure, ["remove", "herd", "spare", "nosuch"], "Unknown herd 'nosuch'");
        await t.Cli.RefusesAsync(Refusal.Failure, ["remove", "sync", "s", "nosuch"], "Unknown sync 'nosuch'");
        Assert.Equal(4L, await Refusal.CaptureTriggersAsync(servers[0], t.Database, "public.items"));
    }

    [Fact]
    public async Task malformed_remove_lines_are_usage_errors_that_change_nothing()
    {
        await using var t = await WithSyncAsync(nameof(malformed_remove_lines_are_usage_errors_that_change_nothing));
        (string[] Args, string Says)[] cases =
        [
            (["remove"], "ferry remove database|dbgroup|herd|sync|table NAME"),
            (["remove", "sync"], "ferry remove database|dbgroup|herd|sync|table NAME"),
            (["remove", "widget", "w"], "Cannot remove 'widget'"),
            (["remove", "sync", "s", "force=1"], "Unknown option for 'remove': force"),
        ];
        foreach (var (args, says) in cases) await t.Cli.RefusesAsync(Refusal.Usage, args, says);
        Assert.Equal(4L, await Refusal.CaptureTriggersAsync(servers[1], t.Database, "public.items"));
    }
}
