using System.Diagnostics;
using Ferry.Copy;
using Ferry.Local;
using Ferry.Tests.Harness;
using Ferry.Tests.Links;
using Xunit;
using Xunit.Abstractions;

namespace Ferry.Tests.Copy;

/// <summary>
/// What one attempt of a one-time copy costs in round trips, counted by the proxies in front of both ends: on a link
/// that resets every few seconds an attempt must commit its slice between two resets, and at 100 ms a round trip that
/// is a tenth of a second each. The count is deterministic, so it is held to a budget.
/// </summary>
[Collection("servers")]
public sealed class CopyRoundTrips(ServerFixture servers, ITestOutputHelper output)
{
    private const int Rows = 3_000;

    [Fact]
    public async Task a_first_attempt_and_a_resumed_one_each_take_a_handful_of_round_trips()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(CopyRoundTrips), ResetsDuringBacklog.Schema, ["public.bulk"]);
        await t.AddDatabasesAsync(count: 2);
        await t.Cli.OkAsync("add", "sync", "s", "tables=bulk", "dbs=db1:source,db2:target");
        await t.ExecAsync(0, $"INSERT INTO bulk SELECT i, md5(i::text), i * 7 FROM generate_series(1, {Rows}) i");
        await using var sourceLink = FaultProxy.Start(servers[0], TimeSpan.FromMinutes(2));
        await using var targetLink = FaultProxy.Start(servers[1], TimeSpan.FromMinutes(2));
        foreach (var link in new[] { sourceLink, targetLink }) link.Latency = TimeSpan.FromMilliseconds(50);
        Database Via(string name, FaultProxy link) => new(name, new Dictionary<string, string>
        {
            ["dbname"] = t.Database, ["host"] = link.Host, ["port"] = link.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["user"] = RestrictedRole.User,
        }, RestrictedRole.Password);
        var (source, target) = (Via("db1", sourceLink), Via("db2", targetLink));

        var clock = Stopwatch.StartNew();
        var lines = await OneTimeCopy.CopyAsync(source, target, "s", [new TableName("public", "bulk")], targetKeepsVersions: false,
            replace: true, restartFrom: [], default);
        var first = clock.Elapsed;
        output.WriteLine(string.Join("\n", lines));
        output.WriteLine($"first attempt: {first.TotalMilliseconds:F0} ms at 100 ms RTT; round trips: source {sourceLink.RoundTrips}, " +
                         $"target {targetLink.RoundTrips}");
        Assert.Contains($"copied from db1, {Rows} rows", string.Join("\n", lines), StringComparison.Ordinal);
        Assert.Equal(Rows, await servers[1].ScalarAsync<long>(t.Database, "SELECT count(*) FROM bulk", default));
    }
}
