using System.Diagnostics;
using System.Text.Json.Nodes;
using Ferry.Local;
using Npgsql;

namespace Ferry.Benchmarks;

/// <summary>
/// <c>link_latency_100ms</c> (issue 4): commit-to-visible through a target link with 100 ms added each way (a 200 ms
/// round trip). Single-row INSERT transactions at 10 per second on the source; a poller on the target, connected
/// directly (not through the slow link), stamps each row when it first sees it. The floor is the link itself: a
/// chunk cannot land in fewer than its round trips on the target link times 200 ms.
/// </summary>
public sealed class LinkLatencyScenario(BenchCluster cluster, Action<string> log)
{
    public const string Name = "link_latency_100ms";
    private const string Database = "bench_link_latency";
    private const int Count = 100;
    private const int WarmupCount = 10;
    private static readonly TimeSpan Latency = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    public async Task<ScenarioResult> RunAsync(CancellationToken ct)
    {
        await cluster.CreateDatabaseAsync(Database, "CREATE TABLE lat (id bigint PRIMARY KEY, note text)", ["lat"], ct);
        await using var link = FaultProxy.Start(cluster.Target, TimeSpan.FromMinutes(15));
        await using var ferry = await RelayHarness.ThroughLinkAsync(cluster, Database, link, ["lat"], ct);
        link.Latency = Latency;
        await ferry.StartAsync(ct);
        await MeasureAsync(ferry, 1, WarmupCount, ct);
        var wireBefore = link.RoundTrips;
        var ms = await MeasureAsync(ferry, 1001, Count, ct);
        var wire = link.RoundTrips - wireBefore;
        await ferry.StopAsync(ct);

        double P(double p) => Stats.Round(Stats.Percentile(ms, p), 1);
        var figures = new JsonObject
        {
            ["transactions"] = Count,
            ["rate_per_s"] = 1 / Interval.TotalSeconds,
            ["added_latency_each_way_ms"] = Latency.TotalMilliseconds,
            ["p50_ms"] = P(50),
            ["p95_ms"] = P(95),
            ["p99_ms"] = P(99),
            ["max_ms"] = P(100),
            ["min_ms"] = P(0),
            ["target_link_round_trips"] = wire,
            ["target_link_round_trips_per_transaction"] = Stats.Round((double)wire / Count, 2),
        };
        log($"{Name}: p50 {P(50)} ms, p99 {P(99)} ms, {wire} round trips on the target link for {Count} transactions");
        return new ScenarioResult(Name, figures, new Target("p99_ms", "<=", 500), Stats.Percentile(ms, 99),
        [
            $"commit -> visible through a 100 ms link: p50 {P(50)} ms, p95 {P(95)} ms, p99 {P(99)} ms, max {P(100)} ms " +
            $"({Count} transactions at 10/s)",
            $"{wire} round trips on the target link ({(double)wire / Count:F1} per transaction; each costs 200 ms)",
        ]);
    }

    private async Task<double[]> MeasureAsync(RelayHarness ferry, long firstId, int count, CancellationToken ct)
    {
        var committed = new long[count];
        var seen = new long[count];
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var poller = Dedicated.Run("link latency poller", () =>
        {
            using var c = new NpgsqlConnection(BenchRoles.WriterConnectionString(cluster.Target, Database));
            c.Open();
            using var poll = new NpgsqlCommand($"SELECT id FROM lat WHERE id >= $1 AND id < {firstId + count} ORDER BY id", c);
            var after = new NpgsqlParameter<long> { TypedValue = firstId };
            poll.Parameters.Add(after);
            poll.Prepare();
            while (after.TypedValue < firstId + count && !stop.Token.IsCancellationRequested)
            {
                using (var r = poll.ExecuteReader())
                    while (r.Read())
                    {
                        var id = r.GetInt64(0);
                        if (seen[id - firstId] == 0) seen[id - firstId] = Stopwatch.GetTimestamp();
                        after.TypedValue = id + 1;
                    }
                Thread.Sleep(2);
            }
            return true;
        });
        await Dedicated.Run("link latency writer", () =>
        {
            using var c = new NpgsqlConnection(BenchRoles.WriterConnectionString(cluster.Source, Database));
            c.Open();
            using var insert = new NpgsqlCommand("INSERT INTO lat (id, note) VALUES ($1, 'probe')", c);
            var id = new NpgsqlParameter<long>();
            insert.Parameters.Add(id);
            insert.Prepare();
            var start = Stopwatch.GetTimestamp();
            for (var i = 0; i < count; i++)
            {
                var wait = Interval * i - Stopwatch.GetElapsedTime(start);
                if (wait > TimeSpan.Zero) Thread.Sleep(wait);
                id.TypedValue = firstId + i;
                insert.ExecuteNonQuery();
                committed[i] = Stopwatch.GetTimestamp();
            }
            return true;
        });
        var deadline = Stopwatch.StartNew();
        while (seen.Any(s => s == 0))
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(60))
                throw new TimeoutException($"{seen.Count(s => s == 0)} rows never reached the target. Pair error: {ferry.PairError() ?? "none"}");
            if (poller.IsFaulted) await poller;
            await Task.Delay(20, ct);
        }
        await stop.CancelAsync();
        await poller;
        return Enumerable.Range(0, count).Select(i => Stats.Millis(committed[i], seen[i])).ToArray();
    }
}
