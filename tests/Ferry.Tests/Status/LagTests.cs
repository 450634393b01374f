using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ferry.Local;
using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Status;

/// <summary>
/// A pair's lag is the changes committed on its source and not yet applied on its target, measured from the
/// databases: right with the relay stopped, with the target unreachable, across a relay restart, and while a long
/// backlog drains chunk by chunk. The same figures in `ferry status --json` and `/metrics`.
/// </summary>
[Collection("servers")]
public sealed class LagTests(ServerFixture servers)
{
    private const string Schema = "CREATE TABLE items (id int PRIMARY KEY, note text NOT NULL)";

    [Fact]
    public async Task lag_is_true_with_the_relay_stopped_and_either_end_unreachable()
    {
        await using var sourceLink = FaultProxy.Start(servers[0], TimeSpan.FromMinutes(5));
        await using var proxy = FaultProxy.Start(servers[2], TimeSpan.FromMinutes(5));
        await using var t = await Topology.CreateAsync(servers, nameof(lag_is_true_with_the_relay_stopped_and_either_end_unreachable),
            Schema, ["public.items"]);
        t.Cli.Environment["FERRY_DEAD_LINK_SECONDS"] = "4";
        t.Cli.Environment["FERRY_MAX_BACKOFF_SECONDS"] = "1";
        t.Cli.Environment["FERRY_LAG_PROBE_SECONDS"] = "1";
        await t.AddDatabasesAsync(new Dictionary<int, FaultProxy> { [0] = sourceLink, [2] = proxy });
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:target", "db3:target");
        await t.Cli.OkAsync("add", "all", "tables", "herd=h");
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");

        // No relay: small statements wait in the change log, a bulk one in the row versions; status counts both.
        await t.ExecAsync(0, "INSERT INTO items SELECT g, 'small' FROM generate_series(1, 300) g");
        await t.ExecAsync(0, "INSERT INTO items SELECT g, 'bulk' FROM generate_series(1001, 6000) g");
        var stopped = await PairAsync(t, "db3");
        Assert.Equal(5300, stopped.GetProperty("lag_rows").GetInt64());
        Assert.True(stopped.GetProperty("lag_seconds").GetDouble() > 0, stopped.ToString());
        Assert.False(stopped.GetProperty("lag_stale").GetBoolean());
        Assert.Equal("relay not running", stopped.GetProperty("state").GetString());
        Assert.Contains("5300", (await t.Cli.OkAsync("status")).Out);

        await t.Cli.OkAsync("start");
        await t.ConvergedAsync("items", [0, 1, 2]);
        var endpoint = await EndpointAsync(t);
        using var http = new HttpClient();
        await MetricAsync(http, endpoint, "ferry_pair_lag_rows", "db3", v => v == 0, "db3's lag to reach 0");

        // The target goes dark: its lag is counted on the source, against the position it had, and rises.
        proxy.Blackhole = true;
        await t.ExecAsync(0, "INSERT INTO items SELECT g, 'while dark' FROM generate_series(10001, 10250) g");
        await MetricAsync(http, endpoint, "ferry_pair_lag_rows", "db3", v => v == 250, "db3's lag to count 250 rows while it is dark");
        Assert.Equal(0, Metric(await http.GetStringAsync(endpoint + "metrics"), "ferry_pair_lag_stale", "db3"));
        await MetricAsync(http, endpoint, "ferry_pair_lag_rows", "db2", v => v == 0, "db2 to keep up");
        var dark = await PairAsync(t, "db3");
        Assert.Equal(250, dark.GetProperty("lag_rows").GetInt64());
        Assert.NotEqual(JsonValueKind.Null, dark.GetProperty("last_error").ValueKind);
        Assert.NotEqual(JsonValueKind.Null, dark.GetProperty("error_since").ValueKind);

        // A restarted relay shows the dark pair's series at once (last known), and measures them again.
        await t.Cli.OkAsync("restart");
        endpoint = await EndpointAsync(t);
        await MetricAsync(http, endpoint, "ferry_pair_lag_rows", "db3", v => v == 250, "the restarted relay to show db3's lag");
        await MetricAsync(http, endpoint, "ferry_pair_lag_stale", "db3", v => v == 0, "the restarted relay to measure db3's lag");

        // Healed: the backlog drains, the lag goes to 0 and the error clears.
        proxy.Blackhole = false;
        await t.ConvergedAsync("items", [0, 1, 2], TimeSpan.FromSeconds(30));
        var healed = await Eventually.UntilAsync(() => PairAsync(t, "db3"),
            p => p.GetProperty("lag_rows").GetInt64() == 0 && p.GetProperty("last_error").ValueKind == JsonValueKind.Null,
            TimeSpan.FromSeconds(20), "db3's lag to reach 0 and its error to clear");
        Assert.Equal(JsonValueKind.Null, healed.GetProperty("error_since").ValueKind);

        // The source goes dark: nobody can count, so the relay shows the last known figure, marked stale; and so
        // does `ferry status` once the relay is stopped.
        sourceLink.Blackhole = true;
        await MetricAsync(http, endpoint, "ferry_pair_lag_stale", "db3", v => v == 1, "db3's lag to be marked stale");
        Assert.Equal(0, Metric(await http.GetStringAsync(endpoint + "metrics"), "ferry_pair_lag_rows", "db3"));
        await t.Cli.OkAsync("stop");
        await t.ExecAsync(0, "INSERT INTO items VALUES (20001, 'unseen')");
        var blind = await PairAsync(t, "db3");
        Assert.Equal(0, blind.GetProperty("lag_rows").GetInt64());
        Assert.True(blind.GetProperty("lag_stale").GetBoolean(), blind.ToString());
        Assert.NotEqual(JsonValueKind.Null, blind.GetProperty("lag_stale_since").ValueKind);
        Assert.Contains("(stale, since", (await t.Cli.OkAsync("status")).Out);
    }

    [Fact]
    public async Task a_long_drain_counts_rows_and_lag_as_each_chunk_commits()
    {
        // Each chunk costs a few round trips of 2 x 40 ms: 20 chunks take seconds, long enough to watch.
        await using var proxy = FaultProxy.Start(servers[1], TimeSpan.FromMinutes(5));
        proxy.Latency = TimeSpan.FromMilliseconds(40);
        await using var t = await Topology.CreateAsync(servers, nameof(a_long_drain_counts_rows_and_lag_as_each_chunk_commits),
            Schema, ["public.items"]);
        t.Cli.Environment["FERRY_CHUNK_ROWS"] = "1000";
        t.Cli.Environment["FERRY_CHUNK_ROWS_MIN"] = "1000";
        await t.AddDatabasesAsync(new Dictionary<int, FaultProxy> { [1] = proxy }, count: 2);
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:target");
        await t.Cli.OkAsync("add", "all", "tables", "herd=h");
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
        const int total = 20_000;
        await t.ExecAsync(0, $"INSERT INTO items SELECT g, 'backlog' FROM generate_series(1, {total}) g");

        await t.Cli.OkAsync("start");
        var endpoint = await EndpointAsync(t);
        using var http = new HttpClient();
        var first = await http.GetStringAsync(endpoint + "metrics");
        // Every series of the pair exists from the start.
        foreach (var name in new[] { "ferry_rows_applied_total", "ferry_pair_lag_rows", "ferry_pair_lag_seconds", "ferry_pair_lag_stale",
                     "ferry_pair_conflicts_total", "ferry_pair_tables_held" })
            Assert.Contains($"{name}{{sync=\"s\",source=\"db1\",target=\"db2\"}}", first);

        var middle = await Eventually.UntilAsync(() => http.GetStringAsync(endpoint + "metrics"),
            m => Metric(m, "ferry_rows_applied_total", "db2") is > 0 and < total, TimeSpan.FromSeconds(30),
            "rows applied to rise before the drain ends");
        var applied = Metric(middle, "ferry_rows_applied_total", "db2");
        var lag = Metric(middle, "ferry_pair_lag_rows", "db2");
        Assert.InRange(lag, 1, total - 1);
        Assert.InRange(applied + lag, total - 1000, total + 1000);
        await t.ConvergedAsync("items", [0, 1], TimeSpan.FromSeconds(60));
        var end = await MetricAsync(http, endpoint, "ferry_pair_lag_rows", "db2", v => v == 0, "the lag to reach 0");
        Assert.Equal(total, Metric(end, "ferry_rows_applied_total", "db2"));
    }

    private static async Task<string> EndpointAsync(Topology t) =>
        Regex.Match((await Eventually.UntilAsync(() => t.Cli.OkAsync("status"),
            r => Regex.IsMatch(r.Out, @"http://127\.0\.0\.1:\d+/"), TimeSpan.FromSeconds(20), "the relay's endpoint")).Out,
            @"http://127\.0\.0\.1:\d+/").Value;

    /// <summary>The db1 → target pair in `ferry status --json`.</summary>
    private static async Task<JsonElement> PairAsync(Topology t, string target)
    {
        using var doc = JsonDocument.Parse((await t.Cli.OkAsync("status", "--json")).Out);
        return doc.RootElement.GetProperty("pairs").EnumerateArray()
            .Single(p => p.GetProperty("source").GetString() == "db1" && p.GetProperty("target").GetString() == target).Clone();
    }

    private static double Metric(string metrics, string name, string target)
    {
        var m = Regex.Match(metrics, $"^{name}\\{{sync=\"s\",source=\"db1\",target=\"{target}\"\\}} (\\S+)$", RegexOptions.Multiline);
        return m.Success ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : double.NaN;
    }

    private static Task<string> MetricAsync(HttpClient http, string endpoint, string name, string target, Func<double, bool> accept, string what) =>
        Eventually.UntilAsync(() => http.GetStringAsync(endpoint + "metrics"), m => accept(Metric(m, name, target)),
            TimeSpan.FromSeconds(30), what);
}
