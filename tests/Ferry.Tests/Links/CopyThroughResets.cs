using Ferry.Local;
using Ferry.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Ferry.Tests.Links;

/// <summary>
/// The one-time copy over the firewall's link: connections reset every couple of seconds while a table of 20,000 rows
/// goes through a slow link. The copy resumes by itself after each reset, from its last committed slice, and ends
/// with exactly the source's rows, each slice written once.
/// </summary>
[Collection("scenario-servers")]
public sealed class CopyThroughResets(ServerFixture servers, ITestOutputHelper output)
{
    private const int Rows = 20_000;
    [Fact]
    public async Task a_copy_through_a_link_that_resets_resumes_by_itself_and_ends_with_exactly_the_sources_rows()
    {
        await using var sourceLink = FaultProxy.Start(servers[0], TimeSpan.FromMinutes(5));
        await using var targetLink = FaultProxy.Start(servers[1], TimeSpan.FromMinutes(5));
        // Slow enough that the copy spans several resets.
        targetLink.BandwidthBytesPerSecond = 500_000;
        await using var t = await Topology.CreateAsync(servers, nameof(CopyThroughResets), ResetsDuringBacklog.Schema, ["public.bulk"]);
        t.Cli.Environment["FERRY_COPY_SLICE_ROWS"] = "2000";
        await t.AddDatabasesAsync(new Dictionary<int, FaultProxy> { [0] = sourceLink, [1] = targetLink }, count: 2);
        await t.ExecAsync(0, $"INSERT INTO bulk SELECT i, md5(i::text), i * 7 FROM generate_series(1, {Rows}) i");
        var expected = await t.ScalarAsync<string>(0, ResetsDuringBacklog.Content);

        using var stopResets = new CancellationTokenSource();
        var adding = t.Cli.RunAsync("add", "sync", "s", "tables=bulk", "dbs=db1:source,db2:target", "onetimecopy=1");
        // The first reset as soon as a slice is in (the copy is surely interrupted once), then every couple of seconds.
        var resets = Task.Run(async () =>
        {
            await Eventually.UntilAsync(async () => await servers[1].ScalarAsync<string>(t.Database,
                    "SELECT coalesce((SELECT value FROM ferry.meta WHERE key = 'copy s from db1'), '')", default) ?? "",
                v => v.Contains("\"After\":[", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "the copy's first slice");
            sourceLink.ResetAll();
            targetLink.ResetAll();
            return 1 + await Resets.EveryTwoSecondsAsync([sourceLink, targetLink], stopResets.Token);
        });
        CliResult added;
        try
        {
            added = await adding;
        }
        finally
        {
            await stopResets.CancelAsync();
        }
        output.WriteLine($"{await resets} rounds of resets ({sourceLink.Resets + targetLink.Resets} connections reset)\n{added}");
        Assert.Equal(0, added.ExitCode);
        Assert.Contains("was interrupted", added.Out, StringComparison.Ordinal);
        Assert.Contains($"db2: \"public\".\"bulk\" copied from db1, {Rows} rows.", added.Out, StringComparison.Ordinal);
        Assert.Equal(expected, await t.ScalarAsync<string>(1, ResetsDuringBacklog.Content));
        // Each slice counted once, in the transaction that wrote it: none was written twice.
        Assert.Equal((long)Rows, await servers[1].ScalarAsync<long>(t.Database,
            "SELECT rows_applied FROM ferry.progress WHERE sync_name = 's' AND source_name = 'db1'", default));

        // And replication goes on from the copy's position.
        await t.ExecAsync(0, "UPDATE bulk SET n = -1 WHERE id = 77; DELETE FROM bulk WHERE id = 78");
        await t.Cli.OkAsync("debug", "run-once", "s", "db1", "db2");
        Assert.Equal(await t.ScalarAsync<string>(0, ResetsDuringBacklog.Content), await t.ScalarAsync<string>(1, ResetsDuringBacklog.Content));
    }
}
