using System.Diagnostics;
using System.Text.Json.Nodes;
using Ferry.Local;
using Npgsql;

namespace Ferry.Benchmarks;

/// <summary>
/// <c>latency_10ps</c>: single-row INSERT transactions at 10 per second on the source; a poller on the target (every
/// 2 ms, its own connection) notes when each row becomes visible. The baseline is the same poller on the source: how
/// soon this measuring method can see a local commit at all (its floor on this machine).
/// </summary>
public sealed class LatencyScenario(BenchCluster cluster, Action<string> log)
{
    public const string Name = "latency_10ps";
    private const string Database = "bench_latency";
    private const int Count = 200;
    private const int WarmupCount = 20;
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan PollEvery = TimeSpan.FromMilliseconds(2);

    public async Task<ScenarioResult> RunAsync(CancellationToken ct)
    {
        await cluster.CreateDatabaseAsync(Database,
            "CREATE TABLE lat (id bigint PRIMARY KEY, sent_ticks bigint NOT NULL, note text)", ["lat"], ct);
        await using var ferry = await RelayHarness.CreateAsync(cluster.Source, cluster.Target, Database, ["lat"], ct);
        await ferry.StartAsync(ct);

        await MeasureAsync(ferry, firstId: 1, WarmupCount, ct);
        var (toTarget, floor, pollMs) = await MeasureAsync(ferry, firstId: 1001, Count, ct);
        await ferry.StopAsync(ct);

        double P(double[] v, double p) => Stats.Round(Stats.Percentile(v, p), 2);
        var figures = new JsonObject
        {
            ["transactions"] = Count,
            ["rate_per_s"] = 1 / Interval.TotalSeconds,
            ["p50_ms"] = P(toTarget, 50),
            ["p95_ms"] = P(toTarget, 95),
            ["p99_ms"] = P(toTarget, 99),
            ["max_ms"] = P(toTarget, 100),
            ["mean_ms"] = Stats.Round(toTarget.Average(), 2),
            // Below 0 only when this process was descheduled between the server's commit and the client seeing it.
            ["min_ms"] = P(toTarget, 0),
            ["baseline_source_visible_p50_ms"] = P(floor, 50),
            ["baseline_source_visible_p99_ms"] = P(floor, 99),
            ["ratio_p50"] = Stats.Round(Stats.Percentile(toTarget, 50) / Math.Max(0.01, Stats.Percentile(floor, 50)), 1),
            ["ratio_p99"] = Stats.Round(Stats.Percentile(toTarget, 99) / Math.Max(0.01, Stats.Percentile(floor, 99)), 1),
            ["poll_period_ms"] = Stats.Round(pollMs, 2),
        };
        var p99 = Stats.Percentile(toTarget, 99);
        return new ScenarioResult(Name, figures, new Target("p99_ms", "<=", 50), p99,
        [
            $"commit -> visible on target: p50 {figures["p50_ms"]} ms, p95 {figures["p95_ms"]} ms, p99 {figures["p99_ms"]} ms, " +
            $"max {figures["max_ms"]} ms ({Count} transactions at {figures["rate_per_s"]}/s)",
            $"baseline (same poller on the source): p50 {figures["baseline_source_visible_p50_ms"]} ms, " +
            $"p99 {figures["baseline_source_visible_p99_ms"]} ms; measured poll period {figures["poll_period_ms"]} ms",
        ]);
    }

    private async Task<(double[] ToTarget, double[] Floor, double PollMs)> MeasureAsync(
        RelayHarness ferry, long firstId, int count, CancellationToken ct)
    {
        var committed = new long[count];
        var seenOnTarget = new long[count];
        var seenOnSource = new long[count];
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var targetPoller = PollAsync(cluster.Target, firstId, seenOnTarget, stop.Token);
        var sourcePoller = PollAsync(cluster.Source, firstId, seenOnSource, stop.Token);
        try
        {
            await WriteAsync(firstId, committed, ct);
            var waitStart = Stopwatch.GetTimestamp();
            // Every row must arrive; a pair that fails says why instead of timing out silently.
            while (seenOnTarget.Any(t => t == 0) || seenOnSource.Any(t => t == 0))
            {
                if (Stopwatch.GetElapsedTime(waitStart) > TimeSpan.FromSeconds(30))
                    throw new TimeoutException($"{seenOnTarget.Count(t => t == 0)} rows never reached the target. " +
                                               $"Pair error: {ferry.PairError() ?? "none"}");
                if (targetPoller.IsFaulted || sourcePoller.IsFaulted) break;
                await Task.Delay(10, ct);
            }
        }
        finally
        {
            await stop.CancelAsync();
        }
        var polls = await targetPoller;
        await sourcePoller;
        var toTarget = Enumerable.Range(0, count).Select(i => Stats.Millis(committed[i], seenOnTarget[i])).ToArray();
        var floor = Enumerable.Range(0, count).Select(i => Stats.Millis(committed[i], seenOnSource[i])).ToArray();
        if (firstId == 1) log($"{Name} warm-up: {count} rows, p50 {Stats.Percentile(toTarget, 50):F1} ms");
        return (toTarget, floor, polls.PeriodMs);
    }

    /// <summary>One autocommit INSERT every 100 ms, on a fixed schedule; notes when each COMMIT returned.</summary>
    private Task<bool> WriteAsync(long firstId, long[] committed, CancellationToken ct) => Dedicated.Run("latency writer", () =>
    {
        using var c = new NpgsqlConnection(BenchRoles.WriterConnectionString(cluster.Source, Database));
        c.Open();
        using var insert = new NpgsqlCommand("INSERT INTO lat (id, sent_ticks, note) VALUES ($1, $2, 'latency probe')", c);
        var id = new NpgsqlParameter<long>();
        var sent = new NpgsqlParameter<long>();
        insert.Parameters.Add(id);
        insert.Parameters.Add(sent);
        insert.Prepare();
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < committed.Length; i++)
        {
            ct.ThrowIfCancellationRequested();
            var wait = Interval * i - Stopwatch.GetElapsedTime(start);
            if (wait > TimeSpan.Zero) Thread.Sleep(wait);
            id.TypedValue = firstId + i;
            // The row carries the client's clock at commit time (Stopwatch ticks), for anyone reading the table.
            sent.TypedValue = Stopwatch.GetTimestamp();
            insert.ExecuteNonQuery();
            committed[i] = Stopwatch.GetTimestamp();
        }
        return true;
    });

    private sealed record PollStats(double PeriodMs);

    /// <summary>Polls for new rows every 2 ms and stamps each with the time the poll that first saw it returned.</summary>
    private static Task<PollStats> PollAsync(LocalServer server, long firstId, long[] seen, CancellationToken ct) =>
        Dedicated.Run("latency poller " + server.Name, () =>
        {
            using var c = new NpgsqlConnection(BenchRoles.WriterConnectionString(server, Database));
            c.Open();
            using var poll = new NpgsqlCommand("SELECT id FROM lat WHERE id > $1 AND id < $2 ORDER BY id", c);
            var after = new NpgsqlParameter<long> { TypedValue = firstId - 1 };
            poll.Parameters.Add(after);
            poll.Parameters.Add(new NpgsqlParameter<long> { TypedValue = firstId + seen.Length });
            poll.Prepare();
            var started = Stopwatch.GetTimestamp();
            long polls = 0;
            var ids = new List<long>();
            while (after.TypedValue < firstId + seen.Length - 1 && !ct.IsCancellationRequested)
            {
                ids.Clear();
                using (var r = poll.ExecuteReader())
                    while (r.Read()) ids.Add(r.GetInt64(0));
                var now = Stopwatch.GetTimestamp();
                polls++;
                foreach (var id in ids) seen[id - firstId] = now;
                if (ids.Count > 0) after.TypedValue = ids[^1];
                Thread.Sleep(PollEvery);
            }
            return new PollStats(Stats.Millis(started, Stopwatch.GetTimestamp()) / Math.Max(1, polls));
        });
}
