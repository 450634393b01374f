using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Ferry.Local;
using Npgsql;

namespace Ferry.Benchmarks;

/// <summary>
/// <c>link_drain_100k</c> (issue 4): a 100,000-row backlog drained to one target whose link has 0 ms and then
/// 100 ms of added latency each way (<see cref="FaultProxy"/> between the relay and the target; the source is near).
/// Timed from the source's COMMIT returning to the target holding every row. Each latency gets a warm-up drain first,
/// so the pair's chunk size has adapted to the link, as it would have on a relay that has been running. Round trips
/// are counted twice: by the relay (its run history, both links, per chunk) and on the target's wire by the proxy.
/// </summary>
public sealed class LinkDrainScenario(BenchCluster cluster, int runs, Action<string> log)
{
    public const string Name = "link_drain_100k";
    private const int Rows = 100_000;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);

    public async Task<ScenarioResult> RunAsync(CancellationToken ct)
    {
        var figures = new JsonObject { ["rows"] = Rows, ["runs"] = runs, ["link"] = "latency added each way on relay <-> target only" };
        var summary = new List<string>();
        double slowMedian = double.NaN;
        foreach (var latencyMs in new[] { 0, 100 })
        {
            var r = await MeasureAsync(latencyMs, ct);
            var median = Stats.Median(r.Millis);
            if (latencyMs == 100) slowMedian = median;
            figures[$"drain_ms_{latencyMs}ms"] = Stats.Round(median);
            figures[$"drain_ms_{latencyMs}ms_runs"] = new JsonArray(r.Millis.Select(v => (JsonNode?)Stats.Round(v)).ToArray());
            figures[$"chunks_per_drain_{latencyMs}ms"] = Stats.Round(Stats.Median(r.Chunks), 1);
            figures[$"round_trips_per_chunk_{latencyMs}ms"] = Stats.Round(Stats.Median(r.TripsPerChunk), 2);
            figures[$"target_link_round_trips_per_drain_{latencyMs}ms"] = Stats.Round(Stats.Median(r.WireTrips), 1);
            summary.Add($"{latencyMs} ms each way: {median:F0} ms for {Rows:N0} rows (runs " +
                        $"{string.Join(", ", r.Millis.Select(v => v.ToString("F0", CultureInfo.InvariantCulture)))}), " +
                        $"{Stats.Median(r.Chunks):F0} chunks, {Stats.Median(r.TripsPerChunk):F1} round trips per chunk (relay's count, " +
                        $"both links), {Stats.Median(r.WireTrips):F0} on the target's wire per drain");
        }
        return new ScenarioResult(Name, figures, new Target("drain_ms_100ms", "<=", 1500), slowMedian, summary);
    }

    private sealed record Measured(List<double> Millis, List<double> Chunks, List<double> TripsPerChunk, List<double> WireTrips);

    private async Task<Measured> MeasureAsync(int latencyMs, CancellationToken ct)
    {
        var database = $"bench_drain_{latencyMs}ms";
        await cluster.CreateDatabaseAsync(database, "CREATE TABLE drain (id bigint PRIMARY KEY, name text, amount numeric, created timestamptz)", ["drain"], ct);
        await using var link = FaultProxy.Start(cluster.Target, TimeSpan.FromMinutes(15));
        await using var ferry = await RelayHarness.ThroughLinkAsync(cluster, database, link, ["drain"], ct);
        link.Latency = TimeSpan.FromMilliseconds(latencyMs);
        await ferry.StartAsync(ct);
        var measured = new Measured([], [], [], []);
        for (var run = 0; run <= runs; run++)
        {
            var runsBefore = (await ferry.RunsAsync(0, ct)).Select(x => x.Id).DefaultIfEmpty(0).Max();
            var wireBefore = link.RoundTrips;
            var millis = await DrainOnceAsync(ferry, database, (long)run * Rows + 1, ct);
            var wire = link.RoundTrips - wireBefore;
            // The relay writes its run history just after the last chunk commits: wait for it to be there.
            var history = await ferry.RunsAsync(runsBefore, ct);
            for (var wait = Stopwatch.StartNew(); history.Sum(h => h.Rows) < Rows && wait.Elapsed < TimeSpan.FromSeconds(10);)
            {
                await Task.Delay(50, ct);
                history = await ferry.RunsAsync(runsBefore, ct);
            }
            var chunks = history.Sum(h => h.Chunks);
            var trips = history.Sum(h => (h.RoundTripsPerChunk ?? 0) * h.Chunks);
            log($"{Name} {latencyMs} ms {(run == 0 ? "warm-up" : $"run {run}/{runs}")}: {millis:F0} ms, {chunks} chunks, " +
                $"{trips / Math.Max(1, chunks):F1} round trips per chunk, {wire} on the target's wire");
            if (run == 0) continue;
            measured.Millis.Add(millis);
            measured.Chunks.Add(chunks);
            measured.TripsPerChunk.Add(trips / Math.Max(1, chunks));
            measured.WireTrips.Add(wire);
        }
        await ferry.StopAsync(ct);
        return measured;
    }

    /// <summary>Inserts the rows in one transaction; times COMMIT returning → the target holding them all.</summary>
    private async Task<double> DrainOnceAsync(RelayHarness ferry, string database, long first, CancellationToken ct)
    {
        var last = first + Rows - 1;
        await using var source = await BenchCluster.OpenAsync(BenchRoles.WriterConnectionString(cluster.Source, database), ct);
        await using var target = await BenchCluster.OpenAsync(BenchRoles.WriterConnectionString(cluster.Target, database), ct);
        await using var probe = new NpgsqlCommand($"SELECT EXISTS (SELECT FROM drain WHERE id = {last})", target);
        await using var count = new NpgsqlCommand($"SELECT count(*) FROM drain WHERE id BETWEEN {first} AND {last}", target);
        await using (var insert = new NpgsqlCommand($"""
            INSERT INTO drain (id, name, amount, created)
            SELECT g, 'customer ' || g, round((g * 1.37)::numeric, 2), now() - g * interval '1 second'
            FROM generate_series({first}, {last}) AS g
            """, source))
            await insert.ExecuteNonQueryAsync(ct);
        var committed = Stopwatch.GetTimestamp();
        // Chunks are applied in key order, so the last key arrives last: probe it (one index lookup), then count.
        while (true)
        {
            if ((bool)(await probe.ExecuteScalarAsync(ct))! && (long)(await count.ExecuteScalarAsync(ct))! == Rows)
                return Stats.Millis(committed, Stopwatch.GetTimestamp());
            if (Stopwatch.GetElapsedTime(committed) > Timeout)
                throw new TimeoutException($"The backlog did not drain in {Timeout.TotalSeconds} s. Pair error: {ferry.PairError() ?? "none"}");
            await Task.Delay(10, ct);
        }
    }
}
