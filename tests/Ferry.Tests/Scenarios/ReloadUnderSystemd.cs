using System.Text.Json;
using System.Text.RegularExpressions;
using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// The relay as systemd runs it (`ferry start --foreground`, Type=notify) while an operator changes its configuration:
/// a sync added, a reload by SIGHUP, a sync paused and resumed. The process stays the same throughout (systemd would
/// take its main process ending for a crash), and the sync nobody touched is never stopped.
/// </summary>
[Collection("servers")]
public sealed class ReloadUnderSystemd(ServerFixture servers)
{
    private const string Schema = """
        CREATE TABLE items (id int PRIMARY KEY, note text);
        CREATE TABLE notes (id int PRIMARY KEY, note text)
        """;

    [Fact]
    public async Task syncs_added_paused_and_resumed_change_in_place_and_the_others_never_stop()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(ReloadUnderSystemd), Schema, ["public.items", "public.notes"]);
        await t.AddDatabasesAsync(2);
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:target");
        await t.Cli.OkAsync("add", "sync", "s1", "tables=items", "dbs=g");
        using var systemd = new NotifySocket();
        t.Cli.Environment["NOTIFY_SOCKET"] = systemd.Path;
        using var relay = t.Cli.Start("start", "--foreground");
        var stdout = relay.StandardOutput.ReadToEndAsync();
        var stderr = relay.StandardError.ReadToEndAsync();
        try
        {
            Assert.Contains("READY=1", await systemd.NextAsync(), StringComparison.Ordinal);
            await t.ExecAsync(0, "INSERT INTO items VALUES (1, 'before')");
            await RowsOnTargetAsync(t, "items", 1);

            // add sync reloads the running relay: s2 starts beside s1, in the same process.
            var added = await t.Cli.OkAsync("add", "sync", "s2", "tables=notes", "dbs=g");
            Assert.Contains("reloaded: sync s2 started (1 pair), sync s1 unchanged", added.Out, StringComparison.Ordinal);
            await t.ExecAsync(0, "INSERT INTO notes VALUES (1, 'new sync')");
            await RowsOnTargetAsync(t, "notes", 1);

            // systemctl reload: the log is reopened and the configuration read again; nothing changed, nothing restarts.
            NotifySocket.Signal(relay.Id, "HUP");
            Assert.Contains("log reopened", await systemd.NextAsync(), StringComparison.Ordinal);
            await Eventually.UntilAsync(() => Task.FromResult(t.Cli.LogText),
                l => l.Contains("Configuration reloaded: sync s1 unchanged, sync s2 unchanged", StringComparison.Ordinal),
                TimeSpan.FromSeconds(30), "the SIGHUP reload in the log");

            // s1's pair ran through both reloads on its first connection.
            Assert.Single(Regex.Matches(t.Cli.LogText, Regex.Escape("Pair s1:db1->db2 connected")));

            // Paused, s1's rows wait; s2's, written after them, still flow.
            Assert.Contains("reloaded: sync s1 stopped (1 pair), sync s2 unchanged", (await t.Cli.OkAsync("pause", "s1")).Out,
                StringComparison.Ordinal);
            await t.ExecAsync(0, "INSERT INTO items VALUES (2, 'while paused')");
            await t.ExecAsync(0, "INSERT INTO notes VALUES (2, 'witness')");
            await RowsOnTargetAsync(t, "notes", 2);
            Assert.Equal(1L, await t.ScalarAsync<long>(1, "SELECT count(*) FROM items"));
            // The endpoint shows what runs: s2's pair only.
            var status = await StatusAsync(t);
            Assert.Equal("s2", string.Join(",", status.GetProperty("pairs").EnumerateArray().Select(p => p.GetProperty("sync").GetString())));

            Assert.Contains("reloaded: sync s1 started (1 pair), sync s2 unchanged", (await t.Cli.OkAsync("resume", "s1")).Out,
                StringComparison.Ordinal);
            await RowsOnTargetAsync(t, "items", 2);

            // One process all along, and s2's pair connected once: no reload restarted it.
            Assert.False(relay.HasExited, "the relay process ended");
            Assert.Equal(relay.Id, (await StatusAsync(t)).GetProperty("pid").GetInt32());
            var log = t.Cli.LogText;
            Assert.Single(Regex.Matches(log, Regex.Escape("Pair s2:db1->db2 connected")));
            Assert.Equal(2, Regex.Matches(log, Regex.Escape("Pair s1:db1->db2 connected")).Count);
        }
        finally
        {
            if (!relay.HasExited) NotifySocket.Signal(relay.Id, "TERM");
        }
        Assert.Contains("STOPPING=1", await systemd.NextAsync(), StringComparison.Ordinal);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await relay.WaitForExitAsync(timeout.Token);
        Assert.True(relay.ExitCode == 0, $"exit {relay.ExitCode}\n{await stdout}\n{await stderr}");
    }

    private static Task RowsOnTargetAsync(Topology t, string table, long rows) =>
        Eventually.UntilAsync(() => t.ScalarAsync<long>(1, $"SELECT count(*) FROM {table}"), n => n == rows,
            TimeSpan.FromSeconds(30), $"{rows} rows in {table} on db2");

    private static async Task<JsonElement> StatusAsync(Topology t)
    {
        var port = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(t.Cli.Home, "relay.json"))).RootElement
            .GetProperty("HttpPort").GetInt32();
        using var http = new HttpClient();
        return JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/status")).RootElement;
    }
}
