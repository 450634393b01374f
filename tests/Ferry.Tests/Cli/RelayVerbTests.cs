using System.Diagnostics;
using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>`ferry start | stop | restart | reload | status | kick` with no sync configured: no servers needed.</summary>
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
        Refusal.AssertRefused(await _cli.RunAsync("start"), Refusal.Failure, "a second ferry start", "already running (pid ");
        // No sync named means every sync; with none configured there is nothing to wake, and that is said.
        Refusal.AssertRefused(await _cli.RunAsync("kick"), Refusal.Failure, "ferry kick", "runs no sync", "ferry add sync");
        // A reload asks the running relay, which says what it runs now; it keeps its pid.
        var pid = System.Text.RegularExpressions.Regex.Match(started.Out, @"pid (\d+)").Groups[1].Value;
        Assert.Equal("reloaded: no active sync", (await _cli.OkAsync("reload")).Out.Trim());
        Assert.Contains($"pid {pid}", (await _cli.OkAsync("status")).Out, StringComparison.Ordinal);
        await _cli.RefusesAsync(Refusal.Usage, ["reload", "s1"], "takes no arguments");
        Assert.Contains("Relay stopped", (await _cli.OkAsync("stop", "maintenance")).Out, StringComparison.Ordinal);
        Assert.Contains("not running", (await _cli.OkAsync("status")).Out, StringComparison.Ordinal);
        Assert.Contains("not running", (await _cli.OkAsync("reload")).Out, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_cli.Home, "relay.json")));
    }
}

public sealed class RelayLockTests : IAsyncLifetime
{
    private readonly FerryCli _cli = new();

    public Task InitializeAsync() => _cli.OkAsync("install");

    public async Task DisposeAsync()
    {
        await _cli.RunAsync("stop");
        _cli.Dispose();
    }

    [Fact]
    public async Task two_starts_at_once_run_one_relay_and_the_other_says_already_running()
    {
        var both = await Task.WhenAll(_cli.RunAsync("start"), _cli.RunAsync("start"));
        var won = Assert.Single(both, r => r.ExitCode == 0);
        var lost = Assert.Single(both, r => r.ExitCode != 0);
        var pid = System.Text.RegularExpressions.Regex.Match(won.Out, @"Relay started \(pid (\d+)\)").Groups[1].Value;
        Assert.NotEqual("", pid);
        Refusal.AssertRefused(lost, Refusal.Failure, "the second ferry start", $"already running (pid {pid})");
        // The one relay is the one that status shows and stop stops; none is left running after it.
        Assert.Contains($"Relay: running, pid {pid}", (await _cli.OkAsync("status")).Out, StringComparison.Ordinal);
        Assert.Contains($"Relay stopped (pid {pid})", (await _cli.OkAsync("stop")).Out, StringComparison.Ordinal);
        Assert.Contains("Relay: not running", (await _cli.OkAsync("status")).Out, StringComparison.Ordinal);
        Assert.DoesNotContain(Process.GetProcessesByName("dotnet"), p => Environ(p.Id).Contains("FERRY_HOME=" + _cli.Home + "\0", StringComparison.Ordinal));
    }

    [Fact]
    public async Task a_stale_pid_of_another_live_process_is_not_taken_for_the_relay()
    {
        // After a crash, relay.json names a pid that the system has given to an unrelated process since.
        using var sleeper = Process.Start(new ProcessStartInfo("sleep", "60") { UseShellExecute = false })!;
        try
        {
            File.WriteAllText(Path.Combine(_cli.Home, "relay.json"),
                $$"""{"Pid":{{sleeper.Id}},"HttpPort":9,"StartedAt":"2024-01-01T00:00:00+00:00"}""");
            Assert.Contains("Relay: not running", (await _cli.OkAsync("status")).Out, StringComparison.Ordinal);
            Assert.Contains("not running", (await _cli.OkAsync("stop")).Out, StringComparison.Ordinal);
            Assert.False(sleeper.HasExited, "ferry stop signalled a process that is not the relay");
            var started = await _cli.OkAsync("start");
            Assert.Contains("Relay started", started.Out, StringComparison.Ordinal);
            Assert.DoesNotContain($"pid {sleeper.Id})", started.Out, StringComparison.Ordinal);
            Assert.Contains("Relay stopped", (await _cli.OkAsync("stop")).Out, StringComparison.Ordinal);
            Assert.False(sleeper.HasExited, "ferry stop signalled a process that is not the relay");
        }
        finally
        {
            sleeper.Kill();
        }
    }

    [Fact]
    public async Task kick_from_a_web_page_is_refused_and_ferry_kick_still_works()
    {
        var started = await _cli.OkAsync("start");
        var port = System.Text.RegularExpressions.Regex.Match(started.Out, @"127\.0\.0\.1:(\d+)/").Groups[1].Value;
        using var http = new HttpClient();
        async Task<int> KickAsync(Action<HttpRequestMessage> dress)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/kick");
            dress(request);
            using var response = await http.SendAsync(request);
            return (int)response.StatusCode;
        }
        // No sync runs, so a kick that gets through is answered 404; a refused one 403 (or 415 for a form body).
        Assert.Equal(404, await KickAsync(_ => { }));
        Assert.Equal(404, await KickAsync(r => r.Headers.Add("Origin", $"http://127.0.0.1:{port}")));
        Assert.Equal(403, await KickAsync(r => r.Headers.Add("Origin", "http://evil.example")));
        Assert.Equal(403, await KickAsync(r => r.Headers.Add("Origin", "http://127.0.0.1:1")));
        Assert.Equal(403, await KickAsync(r => r.Headers.Add("Origin", "null")));
        Assert.Equal(403, await KickAsync(r => r.Headers.Add("Sec-Fetch-Site", "cross-site")));
        Assert.Equal(403, await KickAsync(r => r.Headers.Add("Sec-Fetch-Site", "same-site")));
        Assert.Equal(415, await KickAsync(r => r.Content = new StringContent("sync=s", System.Text.Encoding.UTF8, "text/plain")));
        // A page on another host name that resolves to 127.0.0.1 (DNS rebinding) is not served at all.
        using (var rebound = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/status"))
        {
            rebound.Headers.Host = "evil.example:" + port;
            using var response = await http.SendAsync(rebound);
            Assert.NotEqual(200, (int)response.StatusCode);
        }
        Refusal.AssertRefused(await _cli.RunAsync("kick"), Refusal.Failure, "ferry kick", "runs no sync");
    }

    private static string Environ(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/environ");
        }
        catch (IOException)
        {
            return "";
        }
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
        await t.Cli.RefusesAsync(Refusal.Failure, ["kick", "s"], "does not run sync s", "inactive", "ferry resume s");
    }
}
