using System.Text.Json;
using System.Text.RegularExpressions;
using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Status;

/// <summary>
/// The relay's page, loaded in a real headless Chromium: every pair with its lag figures and a plot of its lag with
/// points in it, a conflict the relay's apply recorded, a held table with its cause, and no complaint in the
/// browser's console. The same lag history in /status, for tools.
/// </summary>
[Collection("servers")]
public sealed partial class StatusPageBrowserTests(ServerFixture servers)
{
    [Fact]
    public async Task the_page_shows_pairs_lag_plots_a_conflict_and_a_held_table_in_a_real_browser()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(the_page_shows_pairs_lag_plots_a_conflict_and_a_held_table_in_a_real_browser),
            "CREATE TABLE accounts (id int PRIMARY KEY, balance int); CREATE TABLE items (id int PRIMARY KEY, note text)",
            ["public.accounts", "public.items"]);
        // A constraint only the replica has holds accounts on the pairs into it (as Scenarios/HeldTables).
        await t.Servers[2].ExecuteAsync(t.Database,
            $"SET ROLE {RestrictedRole.Owner}; ALTER TABLE accounts ADD CONSTRAINT small CHECK (balance < 100); RESET ROLE;", default);
        await t.TwoMastersAndReplicaAsync();
        t.Cli.Environment["FERRY_LAG_SAMPLE_SECONDS"] = "0.2";
        // Both masters write the same key while no relay runs: whichever pair applies first meets the other's row.
        await t.ExecAsync(0, "INSERT INTO items VALUES (7, 'from db1')");
        await t.ExecAsync(1, "INSERT INTO items VALUES (7, 'from db2')");
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO accounts VALUES (1, 500), (2, 5)");
        await t.ConvergedAsync("items", [0, 1, 2], TimeSpan.FromSeconds(30));

        var endpoint = Regex.Match((await t.Cli.OkAsync("status")).Out, @"http://127\.0\.0\.1:\d+/").Value;
        Assert.NotEqual("", endpoint);
        using var http = new HttpClient();
        // /status carries what the page draws: samples per pair, the conflict, the held table.
        var json = await Eventually.UntilAsync(async () => JsonDocument.Parse(await http.GetStringAsync(endpoint + "status")),
            d => d.RootElement.GetProperty("pairs").EnumerateArray().All(p => p.GetProperty("lag_history").GetArrayLength() >= 3)
                 && d.RootElement.GetProperty("recent_conflicts").GetArrayLength() > 0
                 && d.RootElement.GetProperty("held_tables").GetArrayLength() > 0,
            TimeSpan.FromSeconds(30), "/status to hold lag samples, the conflict and the held table");
        var conflict = json.RootElement.GetProperty("recent_conflicts")[0];
        Assert.Equal("public.items", conflict.GetProperty("table").GetString());
        Assert.Contains("7", conflict.GetProperty("key").GetString());
        var sample = json.RootElement.GetProperty("pairs")[0].GetProperty("lag_history")[0];
        Assert.True(sample.TryGetProperty("at", out _) && sample.TryGetProperty("rows", out _) && sample.TryGetProperty("seconds", out _), sample.ToString());

        var page = await Chromium.DumpDomAsync(endpoint, TimeSpan.FromSeconds(60));
        var dom = page.Dom;
        Assert.Empty(page.Console);
        var pairs = Rows(dom, "pair");
        Assert.Equal(4, pairs.Count);
        foreach (var (source, target) in new[] { ("db1", "db2"), ("db1", "db3"), ("db2", "db1"), ("db2", "db3") })
        {
            var row = Assert.Single(pairs, r => r.Contains($"<td>{source}</td><td>{target}</td>", StringComparison.Ordinal));
            Assert.Matches(@"class=""lag-rows"">\d+", row);
            Assert.Matches(@"class=""lag-seconds"">\d+\.\d", row);
            // The plot: an inline SVG whose lines have a point per sample, at least the three /status had.
            var points = Regex.Match(row, @"<polyline class=""rows"" points=""([^""]*)""").Groups[1].Value;
            Assert.True(points.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length >= 3, row);
            Assert.Contains("<svg class=\"lag\"", row);
        }
        Assert.Contains(Rows(dom, "conflict"), r => r.Contains("public.items", StringComparison.Ordinal)
                                                   && r.Contains("class=\"winner\">db", StringComparison.Ordinal));
        Assert.Contains(Rows(dom, "held"), r => r.Contains("\"public\".\"accounts\"", StringComparison.Ordinal)
                                               && r.Contains("small", StringComparison.Ordinal));
        Assert.Contains("Recent errors", dom);
        // Nothing comes from elsewhere: the relay may have no internet.
        Assert.DoesNotMatch(@"<script\b|(src|href)=""(https?:)?//", dom);
    }

    private static List<string> Rows(string dom, string cls) =>
        RowRegex().Matches(dom).Where(m => m.Groups[1].Value == cls).Select(m => m.Value).ToList();

    [GeneratedRegex(@"<tr class=""([a-z]+)"">.*?</tr>", RegexOptions.Singleline)]
    private static partial Regex RowRegex();
}
