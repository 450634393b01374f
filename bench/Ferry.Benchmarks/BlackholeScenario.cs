using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Ferry.Local;
using Npgsql;

namespace Ferry.Benchmarks;

/// <summary>
/// <c>blackhole_detection</c> (issue 4): how long after its link turns into a blackhole (bytes swallowed, nothing
/// answered, nothing closed) the relay declares the target unreachable, with the dead-link bound set to 5 s
/// (FERRY_DEAD_LINK_SECONDS). Measured with the pair busy (a row written every 200 ms) and idle. After each trial the
/// link heals and the scenario waits for the pair to catch up, so trials do not overlap.
/// </summary>
public sealed class BlackholeScenario(BenchCluster cluster, Action<string> log)
{
    public const string Name = "blackhole_detection";
    private const string Database = "bench_blackhole";
    private const int DeadLinkSeconds = 5;
    private const int Trials = 3;

    public async Task<ScenarioResult> RunAsync(CancellationToken ct)
    {
        var saved = (Dead: Environment.GetEnvironmentVariable("FERRY_DEAD_LINK_SECONDS"),
            Backoff: Environment.GetEnvironmentVariable("FERRY_MAX_BACKOFF_SECONDS"));
        Environment.SetEnvironmentVariable("FERRY_DEAD_LINK_SECONDS", DeadLinkSeconds.ToString(CultureInfo.InvariantCulture));
        Environment.SetEnvironmentVariable("FERRY_MAX_BACKOFF_SECONDS", "2");
        try
        {
            await cluster.CreateDatabaseAsync(Database, "CREATE TABLE bh (id bigint PRIMARY KEY, note text)", ["bh"], ct);
            await using var link = FaultProxy.Start(cluster.Target, TimeSpan.FromMinutes(15));
            await using var ferry = await RelayHarness.ThroughLinkAsync(cluster, Database, link, ["bh"], ct);
            await ferry.StartAsync(ct);
            var busy = new List<double>();
            var idle = new List<double>();
            long nextId = 1;
            for (var trial = 0; trial < Trials * 2; trial++)
            {
                var writing = trial % 2 == 0;
                var (seconds, lastId) = await TrialAsync(ferry, link, writing, nextId, ct);
                nextId = lastId + 1;
                (writing ? busy : idle).Add(seconds);
                log($"{Name} trial {trial + 1}/{Trials * 2} ({(writing ? "busy" : "idle")}): detected after {seconds:F2} s");
            }
            await ferry.StopAsync(ct);
            var all = busy.Concat(idle).ToList();
            var figures = new JsonObject
            {
                ["dead_link_seconds"] = DeadLinkSeconds,
                ["detection_s_busy_median"] = Stats.Round(Stats.Median(busy), 2),
                ["detection_s_idle_median"] = Stats.Round(Stats.Median(idle), 2),
                ["detection_s_max"] = Stats.Round(all.Max(), 2),
                ["detection_s_busy"] = new JsonArray(busy.Select(v => (JsonNode?)Stats.Round(v, 2)).ToArray()),
                ["detection_s_idle"] = new JsonArray(idle.Select(v => (JsonNode?)Stats.Round(v, 2)).ToArray()),
            };
            // The bound, plus a tenth for scheduling on shared cores.
            return new ScenarioResult(Name, figures, new Target("detection_s_max", "<=", DeadLinkSeconds * 1.1), all.Max(),
            [
                $"blackhole -> target declared unreachable: busy pair {Stats.Median(busy):F2} s, idle pair " +
                $"{Stats.Median(idle):F2} s (medians of {Trials}), worst {all.Max():F2} s; bound FERRY_DEAD_LINK_SECONDS={DeadLinkSeconds}",
            ]);
        }
        finally
        {
            Environment.SetEnvironmentVariable("FERRY_DEAD_LINK_SECONDS", saved.Dead);
            Environment.SetEnvironmentVariable("FERRY_MAX_BACKOFF_SECONDS", saved.Backoff);
        }
    }

    /// <summary>One blackhole: returns the seconds until the relay marked the target down, and the last id written.</summary>
    private async Task<(double Seconds, long LastId)> TrialAsync(RelayHarness ferry, FaultProxy link, bool writing, long firstId,
        CancellationToken ct)
    {
        await using var source = await BenchCluster.OpenAsync(BenchRoles.WriterConnectionString(cluster.Source, Database), ct);
        using var stopWriting = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var id = firstId;
        var writer = writing ? WriteAsync() : Task.CompletedTask;
        async Task WriteAsync()
        {
            try
            {
                while (true)
                {
                    await using (var insert = new NpgsqlCommand($"INSERT INTO bh VALUES ({id}, 'row')", source))
                        await insert.ExecuteNonQueryAsync(stopWriting.Token);
                    id++;
                    await Task.Delay(200, stopWriting.Token);
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        // Let the pair settle into its rhythm (busy: applying every write; idle: polling) before the cut.
        await Task.Delay(TimeSpan.FromSeconds(writing ? 1 : DeadLinkSeconds), ct);
        link.Blackhole = true;
        var cut = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        while (ferry.Relay.Status.Databases.GetValueOrDefault("tgt") is not { Reachable: false })
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(DeadLinkSeconds * 6))
                throw new TimeoutException($"The blackhole was not detected in {clock.Elapsed.TotalSeconds:F0} s.");
            await Task.Delay(10, ct);
        }
        var detected = (ferry.Relay.Status.Databases["tgt"].Since - cut).TotalSeconds;
        await stopWriting.CancelAsync();
        await writer;

        // Heal, and wait until the pair is back and caught up, so the next trial starts clean.
        link.Blackhole = false;
        await using var target = await BenchCluster.OpenAsync(BenchRoles.WriterConnectionString(cluster.Target, Database), ct);
        await using var probe = new NpgsqlCommand($"SELECT count(*) FROM bh WHERE id >= {firstId} AND id < {id}", target);
        clock.Restart();
        while (ferry.Relay.Status.Databases.GetValueOrDefault("tgt") is not { Reachable: true }
               || (long)(await probe.ExecuteScalarAsync(ct))! != id - firstId)
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(60))
                throw new TimeoutException($"The pair did not recover after the link healed. Pair error: {ferry.PairError() ?? "none"}");
            await Task.Delay(50, ct);
        }
        return (detected, id - 1);
    }
}
