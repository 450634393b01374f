using System.Text.Json;
using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>
/// `ferry start --foreground` as systemd runs it (Type=notify): READY=1 on $NOTIFY_SOCKET once it serves, SIGHUP
/// reopens the log for logrotate instead of ending the relay, SIGTERM says STOPPING=1 and exits 0. The test plays
/// systemd's part: it binds the datagram socket and reads what arrives.
/// </summary>
[Collection("servers")]
public sealed class ServiceTests(ServerFixture servers) : IAsyncLifetime
{
    private readonly FerryCli _cli = new();
    private readonly NotifySocket _systemd = new();
    private string SocketPath => _systemd.Path;

    public Task InitializeAsync() => _cli.OkAsync("install");

    public Task DisposeAsync()
    {
        _systemd.Dispose();
        _cli.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task the_relay_notifies_systemd_reopens_its_log_on_hup_and_stops_cleanly_on_term()
    {
        _cli.Environment["NOTIFY_SOCKET"] = SocketPath;
        _cli.Environment["FERRY_LOG_FORMAT"] = "json";
        _cli.Environment["FERRY_HTTP_BIND"] = "0.0.0.0";
        using var relay = _cli.Start("start", "--foreground");
        var stdout = relay.StandardOutput.ReadToEndAsync();
        var stderr = relay.StandardError.ReadToEndAsync();

        var ready = await NextAsync();
        Assert.Contains("READY=1", ready, StringComparison.Ordinal);
        Assert.Contains($"MAINPID={relay.Id}", ready, StringComparison.Ordinal);
        // Ready means serving: status reaches it at once, on loopback, though it listens on every address.
        var status = await _cli.OkAsync("status");
        Assert.Contains($"pid {relay.Id}", status.Out, StringComparison.Ordinal);

        // logrotate: move the file away, then HUP.
        var log = Path.Combine(_cli.Home, "ferry.log");
        File.Move(log, log + ".1");
        Signal(relay.Id, "HUP");
        Assert.Contains("log reopened", await NextAsync(), StringComparison.Ordinal);
        Assert.False(relay.HasExited, "SIGHUP ended the relay");
        Assert.Contains("reopened", _cli.LogText, StringComparison.Ordinal);
        // Every line, in the old file and the new, is one JSON object.
        foreach (var line in File.ReadAllLines(log + ".1").Concat(File.ReadAllLines(log)).Where(l => l.Length > 0))
            Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(line).RootElement.ValueKind);

        Signal(relay.Id, "TERM");
        Assert.Contains("STOPPING=1", await NextAsync(), StringComparison.Ordinal);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await relay.WaitForExitAsync(timeout.Token);
        Assert.True(relay.ExitCode == 0, $"exit {relay.ExitCode}\n{await stdout}\n{await stderr}");
        foreach (var line in (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(line).RootElement.ValueKind);
    }

    [Fact]
    public async Task ready_comes_once_every_pair_of_the_syncs_runs_and_the_endpoint_serves_them()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(ServiceTests),
            "CREATE TABLE items (id int PRIMARY KEY, note text)", ["public.items"]);
        await t.OneSourceTwoTargetsAsync();
        t.Cli.Environment["NOTIFY_SOCKET"] = SocketPath;
        using var relay = t.Cli.Start("start", "--foreground");
        _ = relay.StandardOutput.ReadToEndAsync();
        _ = relay.StandardError.ReadToEndAsync();
        try
        {
            Assert.Contains("READY=1", await NextAsync(), StringComparison.Ordinal);
            // At READY, relay.json names the port and the endpoint lists both pairs: nothing is still being set up.
            var port = JsonDocument.Parse(File.ReadAllText(Path.Combine(t.Cli.Home, "relay.json"))).RootElement.GetProperty("HttpPort").GetInt32();
            using var http = new HttpClient();
            var status = JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/status")).RootElement;
            Assert.Equal(2, status.GetProperty("pairs").GetArrayLength());
            await t.ExecAsync(0, "INSERT INTO items VALUES (1, 'after ready')");
            await Eventually.UntilAsync(() => t.ScalarAsync<long>(2, "SELECT count(*) FROM items"), n => n == 1,
                TimeSpan.FromSeconds(30), "the row on db3");
        }
        finally
        {
            Signal(relay.Id, "TERM");
            await relay.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        }
        Assert.Equal(0, relay.ExitCode);
    }

    private Task<string> NextAsync() => _systemd.NextAsync();

    private static void Signal(int pid, string signal) => NotifySocket.Signal(pid, signal);
}
