using System.Diagnostics;
using System.Text.RegularExpressions;
using Ferry.Local;
using Ferry.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Ferry.Tests.Links;

/// <summary>
/// A long outage's backlog drains through a link that resets every couple of seconds: it completes, nothing is lost
/// or applied twice, and each reset costs at most the one chunk that was in flight (DESIGN: resumable backlogs).
/// </summary>
[Collection("scenario-servers")]
public sealed partial class ResetsDuringBacklog(ServerFixture servers, ITestOutputHelper output)
{
    private const int Rows = 100_000;
    private const int MaxChunk = 10_000;
    internal const string Schema = "CREATE TABLE bulk (id int PRIMARY KEY, payload text NOT NULL, n bigint NOT NULL)";

    /// <summary>Count, sum and md5 of the ordered content: any loss, duplicate or changed value shows.</summary>
    internal const string Content = "SELECT count(*) || ' ' || coalesce(sum(n), 0) || ' ' || " +
                                   "coalesce(md5(string_agg(id || ':' || payload || ':' || n, ',' ORDER BY id)), '') FROM bulk";

    [Fact]
    public async Task a_100k_backlog_drains_through_resets_every_two_seconds_losing_nothing_and_resending_at_most_a_chunk()
    {
        var clock = Stopwatch.StartNew();
        await using var sourceLink = FaultProxy.Start(servers[0], TimeSpan.FromMinutes(5));
        await using var targetLink = FaultProxy.Start(servers[1], TimeSpan.FromMinutes(5));
        // A slow link, so the drain takes long enough for several resets to land in the middle of chunks.
        targetLink.Latency = TimeSpan.FromMilliseconds(10);
        targetLink.BandwidthBytesPerSecond = 3_000_000;
        await using var t = await Topology.CreateAsync(servers, nameof(ResetsDuringBacklog), Schema, ["public.bulk"]);
        t.Cli.Environment["FERRY_CHUNK_ROWS"] = MaxChunk.ToString(System.Globalization.CultureInfo.InvariantCulture);
        t.Cli.Environment["FERRY_DEAD_LINK_SECONDS"] = "6";
        await t.AddDatabasesAsync(new Dictionary<int, FaultProxy> { [0] = sourceLink, [1] = targetLink }, count: 2);
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:target");
        await t.Cli.OkAsync("add", "all", "tables", "herd=h");
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");

        // The outage: the backlog piles up while no relay runs.
        await t.ExecAsync(0, $"INSERT INTO bulk SELECT i, md5(i::text), i * 7 FROM generate_series(1, {Rows}) i");
        var expected = await t.ScalarAsync<string>(0, Content);

        using var stopResets = new CancellationTokenSource();
        var resets = Resets.EveryTwoSecondsAsync([sourceLink, targetLink], stopResets.Token);
        await t.Cli.OkAsync("start");
        var drain = Stopwatch.StartNew();
        var lowWater = new List<long>();
        try
        {
            await Eventually.UntilAsync(async () =>
            {
                lowWater.Add(await t.ScalarAsync<long>(1, "SELECT count(*) FROM bulk"));
                return await t.ScalarAsync<string>(1, Content);
            }, c => c == expected, TimeSpan.FromSeconds(150), "db2 to hold exactly db1's 100,000 rows through the resets");
        }
        finally
        {
            await stopResets.CancelAsync();
        }
        var resetCount = await resets;
        output.WriteLine($"drained in {drain.Elapsed.TotalSeconds:F1} s through {resetCount} rounds of resets " +
                         $"({sourceLink.Resets + targetLink.Resets} connections reset)");

        // Nothing applied twice: progress counts each committed chunk's rows once, and they add up to the backlog.
        Assert.Equal((long)Rows, await servers[1].ScalarAsync<long>(t.Database,
            "SELECT rows_applied FROM ferry.progress WHERE sync_name = 's' AND source_name = 'db1'", default));
        Assert.Equal(0L, await servers[1].ScalarAsync<long>(t.Database, "SELECT count(*) FROM ferry.progress WHERE chunk_to IS NOT NULL", default));
        Assert.Equal(0L, await servers[1].ScalarAsync<long>(t.Database, "SELECT count(*) FROM ferry.conflicts", default));
        // The target never went backwards: a reset resumes where the last committed chunk left off.
        Assert.Equal(lowWater.OrderBy(x => x), lowWater);

        // What each reset cost: the relay reports the rows of the chunk in flight, to be sent again.
        var resent = t.LogLines("will be sent again").Select(l => long.Parse(Resent().Match(l).Groups[1].Value)).ToList();
        output.WriteLine($"chunks lost in flight: {resent.Count}, rows re-sent: [{string.Join(", ", resent)}] (max chunk {MaxChunk})");
        output.WriteLine(string.Join('\n', t.LogLines("ferry.pair").TakeLast(30)));
        Assert.True(resetCount >= 3, $"only {resetCount} rounds of resets hit the drain");
        Assert.All(resent, r => Assert.InRange(r, 1, MaxChunk));
        Assert.True(resent.Sum() <= (long)resetCount * MaxChunk);
        output.WriteLine($"relay peak memory {RelayPeakMib(t)} MiB; test took {clock.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>The relay's peak resident memory (VmHWM), for the record: the pipeline streams, it holds no batch.</summary>
    private static long RelayPeakMib(Topology t)
    {
        try
        {
            var state = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(t.Cli.Home, "relay.json")));
            var pid = state.RootElement.GetProperty("Pid").GetInt32();
            var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or KeyNotFoundException)
        {
            return -1;
        }
    }

    [GeneratedRegex(@"(\d+) rows will be sent again")]
    private static partial Regex Resent();
}
