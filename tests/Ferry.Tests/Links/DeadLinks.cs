using System.Diagnostics;
using System.Globalization;
using Ferry.Local;
using Ferry.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Ferry.Tests.Links;

/// <summary>
/// DESIGN invariant 6 and the dead-link bound: a target swallowed by a blackhole is declared unreachable within the
/// bound the user set, `ferry status` says so, the other pair goes on at full speed, and the backlog drains when
/// the link heals (a scaled-down hour-long outage).
/// </summary>
[Collection("scenario-servers")]
public sealed class DeadLinks(ServerFixture servers, ITestOutputHelper output)
{
    private const int DeadLinkSeconds = 4;
    private const string Schema = "CREATE TABLE items (id int PRIMARY KEY, note text NOT NULL)";

    [Fact]
    public async Task a_blackholed_target_is_detected_within_the_bound_while_the_other_pair_goes_on()
    {
        var clock = Stopwatch.StartNew();
        await using var proxy = FaultProxy.Start(servers[2], TimeSpan.FromMinutes(5));
        await using var t = await Topology.CreateAsync(servers, nameof(a_blackholed_target_is_detected_within_the_bound_while_the_other_pair_goes_on),
            Schema, ["public.items"]);
        t.Cli.Environment["FERRY_DEAD_LINK_SECONDS"] = DeadLinkSeconds.ToString(CultureInfo.InvariantCulture);
        await t.AddDatabasesAsync(new Dictionary<int, FaultProxy> { [2] = proxy });
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:target", "db3:target");
        await t.Cli.OkAsync("add", "all", "tables", "herd=h");
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO items SELECT g, 'before ' || g FROM generate_series(1, 100) g");
        await t.ConvergedAsync("items", [0, 1, 2]);

        proxy.Blackhole = true;
        var cut = DateTimeOffset.UtcNow;

        // The other pair does not wait for the dead one: each write reaches db2 promptly.
        var worst = TimeSpan.Zero;
        for (var i = 1; i <= 5; i++)
        {
            var write = Stopwatch.StartNew();
            await t.ExecAsync(0, "INSERT INTO items VALUES ($1, 'during')", 1000 + i);
            await Eventually.UntilAsync(() => t.ScalarAsync<long>(1, $"SELECT count(*) FROM items WHERE id = {1000 + i}"),
                n => n == 1, TimeSpan.FromSeconds(10), $"row {1000 + i} on db2 while db3 is blackholed");
            worst = write.Elapsed > worst ? write.Elapsed : worst;
        }
        Assert.True(worst < TimeSpan.FromSeconds(3), $"db2 waited {worst.TotalSeconds:F1} s for a write while db3 was blackholed");

        // Detected within the bound; status says which database, why, since when, and that the pair retries.
        var status = await Eventually.UntilAsync(() => t.Cli.OkAsync("status"),
            r => Line(r.Out, "db3 ")?.Contains("unreachable", StringComparison.Ordinal) == true
                 && Line(r.Out, "db1 -> db3")?.Contains("retrying", StringComparison.Ordinal) == true,
            TimeSpan.FromSeconds(30), "ferry status to show db3 unreachable and db1 -> db3 retrying");
        var db3 = (await t.DatabaseStatusAsync()).Single(d => d.Name == "db3");
        var detected = DateTimeOffset.Parse(db3.Since, CultureInfo.InvariantCulture) - cut;
        output.WriteLine($"blackhole detected after {detected.TotalSeconds:F2} s (bound {DeadLinkSeconds} s); " +
                         $"worst db2 write-to-visible during it {worst.TotalMilliseconds:F0} ms");
        output.WriteLine(status.Out);
        output.WriteLine($"cut at {cut:HH:mm:ss.fff}\n" + string.Join('\n', t.LogLines("ferry.")));
        // The bound: D after the first unanswered request (commands wait about D/2, the driver spends the rest trying
        // to cancel), plus a second of slack for a loaded machine.
        Assert.InRange(detected.TotalSeconds, 0, DeadLinkSeconds + 1);
        Assert.Contains("db3", db3.LastError);
        Assert.Contains("ago", Line(status.Out, "db3 "));
        Assert.Equal("unreachable", Line(status.Out, "db3 ")!.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        Assert.Contains("reachable", Line(status.Out, "db2 "));
        Assert.DoesNotContain("unreachable", Line(status.Out, "db1 ") ?? "");

        // A scaled-down long outage: writes pile up for db3 while db2 keeps up.
        await t.ExecAsync(0, "INSERT INTO items SELECT g, 'outage ' || g FROM generate_series(2000, 6999) g");
        await t.ExecAsync(0, "UPDATE items SET note = note || ' (edited)' WHERE id % 7 = 0");
        await t.ExecAsync(0, "DELETE FROM items WHERE id % 11 = 0");
        await t.ConvergedAsync("items", [0, 1], TimeSpan.FromSeconds(15));

        // Healed: the backlog drains, db3 converges, and status says it is reachable again.
        proxy.Blackhole = false;
        await t.ConvergedAsync("items", [0, 1, 2], TimeSpan.FromSeconds(60));
        await Eventually.UntilAsync(() => t.Cli.OkAsync("status"),
            r => Line(r.Out, "db3 ")?.Contains(" reachable", StringComparison.Ordinal) == true
                 && Line(r.Out, "db1 -> db3")?.Contains("replicating", StringComparison.Ordinal) == true,
            TimeSpan.FromSeconds(30), "db3 reachable and its pair replicating again");
        Assert.Equal(0L, await servers[2].ScalarAsync<long>(t.Database, "SELECT count(*) FROM ferry.conflicts", default));
        output.WriteLine($"test took {clock.Elapsed.TotalSeconds:F1} s");
    }

    private static string? Line(string text, string startsWith) =>
        text.Split('\n').FirstOrDefault(l => l.StartsWith(startsWith, StringComparison.Ordinal));
}
