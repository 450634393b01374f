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
    public async Task a_first_attempt_and_a_resumed_one_each_take_about_ten_round_trips_on_each_end()
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

        var bulk = new TableName("public", "bulk");

        var clock = Stopwatch.StartNew();
        var lines = await OneTimeCopy.CopyAsync(source, target, "s", [bulk], targetKeepsVersions: false, replace: true, restartFrom: [], default);
        var first = (clock.Elapsed, Source: sourceLink.RoundTrips, Target: targetLink.RoundTrips);
        output.WriteLine(string.Join("\n", lines));
        Assert.Contains($"copied from db1, {Rows} rows", string.Join("\n", lines), StringComparison.Ordinal);
        Assert.Equal(Rows, await servers[1].ScalarAsync<long>(t.Database, "SELECT count(*) FROM bulk", default));

        // An attempt cut off after its first 1,000 rows, as its cursor and the target's rows say.
        var nodeId = await servers[0].ScalarAsync<string>(t.Database, "SELECT value FROM ferry.meta WHERE key = 'node_id'", default);
        await servers[1].ExecuteAsync(t.Database, "DELETE FROM bulk WHERE id > 1000; INSERT INTO ferry.meta VALUES ('copy s from db1', " +
            $"'{{\"Position\":\"{await servers[0].ScalarAsync<string>(t.Database, "SELECT pg_current_snapshot()::text", default)}\"," +
            $"\"NodeId\":\"{nodeId}\",\"Fill\":[{{\"Schema\":\"public\",\"Name\":\"bulk\"}}],\"Table\":0,\"After\":[\"1000\"],\"Copied\":[1000]}}')", default);
        var (sourceBefore, targetBefore) = (sourceLink.RoundTrips, targetLink.RoundTrips);
        clock.Restart();
        lines = await OneTimeCopy.CopyAsync(source, target, "s", [bulk], targetKeepsVersions: false, replace: true, restartFrom: [], default);
        var resumed = (clock.Elapsed, Source: sourceLink.RoundTrips - sourceBefore, Target: targetLink.RoundTrips - targetBefore);
        output.WriteLine(string.Join("\n", lines));
        Assert.Contains("resuming the copy from db1 at \"public\".\"bulk\"", lines[0], StringComparison.Ordinal);
        Assert.Contains($"copied from db1, {Rows} rows", string.Join("\n", lines), StringComparison.Ordinal);
        Assert.Equal(Rows, await servers[1].ScalarAsync<long>(t.Database, "SELECT count(*) FROM bulk", default));

        output.WriteLine($"at 100 ms RTT: first attempt {first.Elapsed.TotalMilliseconds:F0} ms, round trips source {first.Source}, " +
                         $"target {first.Target}; resumed attempt {resumed.Elapsed.TotalMilliseconds:F0} ms, source {resumed.Source}, target {resumed.Target}");
        // Each connection's opening is 4 of them (TLS offer, three of SCRAM); each end's side by side with the other's.
        Assert.True(first.Source <= 8 && first.Target <= 9, $"first attempt: {first.Source} and {first.Target} round trips");
        Assert.True(resumed.Source <= 9 && resumed.Target <= 11, $"resumed attempt: {resumed.Source} and {resumed.Target} round trips");
    }
}
