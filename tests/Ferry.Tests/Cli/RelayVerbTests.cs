using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>`ferry start | stop | restart | status | kick` with no sync configured: no servers needed.</summary>
public sealed class RelayVerbTests : IAsyncLifetime
{
    private readonly FerryCli _cli = new();

    public Task InitializeAsync() => _cli.OkAsync("install");

    public async Task DisposeAsync()
    {
        await _cli.RunAsync("stop");
        _cli.Dispose();
    }

    [Fact]
    public async Task status_before_start_says_the_relay_is_not_running_and_how_to_start_it()
    {
        var r = await _cli.OkAsync("status");
        Assert.Contains("not running", r.Out, StringComparison.Ordinal);
        Assert.Contains("ferry start", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task kick_while_the_relay_is_not_running_is_a_clear_failure()
    {
        var r = await _cli.RefusesAsync(Refusal.Failure, ["kick"], "relay is not running", "ferry start");
        Assert.Equal("", r.Out);
    }

    [Fact]
    public async Task kick_of_an_unknown_sync_names_it()
    {
        await _cli.RefusesAsync(Refusal.Failure, ["kick", "nosuch"], "Unknown sync 'nosuch'", "ferry list syncs");
    }

    [Fact]
    public async Task status_of_an_unknown_sync_names_it()
    {
        await _cli.RefusesAsync(Refusal.Failure, ["status", "nosuch"], "Unknown sync 'nosuch'");
    }

    [Fact]
    public async Task stop_when_nothing_runs_says_so_and_succeeds()
    {
        var r = await _cli.OkAsync("stop");
        Assert.Contains("not running", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task stop_refuses_an_unknown_option()
    {
        await _cli.RefusesAsync(Refusal.Usage, ["stop", "colour=blue"], "colour");
    }

    [Fact]
    public async Task start_and_stop_take_bucardos_reason_and_status_follows_them()
    {
        // `bucardo start "reason"` and `bucardo stop "reason"` appear in many scripts.
        var started = await _cli.OkAsync("start", "after the upgrade");
        Assert.Contains("Relay started", started.Out, StringComparison.Ordinal);
        Assert.Matches(@"Relay: running, pid \d+", (await _cli.OkAsync("status")).Out);
        Assert.Contains("already running", (await _cli.OkAsync("start")).Out, StringComparison.Ordinal);
        // No sync named means every sync; with none configured there is nothing to wake, and that is said.
        Refusal.AssertRefused(await _cli.RunAsync("kick"), Refusal.Failure, "ferry kick", "runs no sync", "ferry restart");
        Assert.Contains("Relay stopped", (await _cli.OkAsync("stop", "maintenance")).Out, StringComparison.Ordinal);
        Assert.Contains("not running", (await _cli.OkAsync("status")).Out, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_cli.Home, "relay.json")));
    }
}

/// <summary>Relay verbs that need a configured sync, hence real databases.</summary>
[Collection("servers")]
public sealed class RelayVerbWithSyncTests(ServerFixture servers)
{
    [Fact]
    public async Task kick_of_a_sync_while_the_relay_is_not_running_says_to_start_it()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(kick_of_a_sync_while_the_relay_is_not_running_says_to_start_it),
            "CREATE TABLE items (id int PRIMARY KEY, name text)", ["public.items"]);
        await t.AddDatabasesAsync(2);
        await t.Cli.OkAsync("add", "sync", "s", "tables=items", "dbs=db1:source,db2:target");
        await t.Cli.RefusesAsync(Refusal.Failure, ["kick", "s"], "relay is not running", "ferry start");
        var status = await t.Cli.OkAsync("status", "s");
        Assert.Contains("Sync s: stopped", status.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task kick_of_a_sync_the_relay_does_not_run_says_why_that_happens()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(kick_of_a_sync_the_relay_does_not_run_says_why_that_happens),
            "CREATE TABLE items (id int PRIMARY KEY, name text)", ["public.items"]);
        await t.AddDatabasesAsync(2);
        await t.Cli.OkAsync("add", "sync", "s", "tables=items", "dbs=db1:source,db2:target", "status=inactive");
        await t.Cli.OkAsync("start");
        await t.Cli.RefusesAsync(Refusal.Failure, ["kick", "s"], "does not run sync s", "inactive", "ferry restart");
    }
}
