using System.Diagnostics;
using System.Text.Json.Nodes;
using Npgsql;

namespace Ferry.Benchmarks;

/// <summary>
/// <c>capture_overhead</c>: single-row write transactions per second (50% INSERT, 50% UPDATE of an existing row, 2
/// client connections) on a table with ferry's capture triggers, replicated to the target by the running relay (a
/// process of its own, started as `ferry start` starts it),
/// against an identical table without them. Phases alternate (without, with, without, with, ...); medians are compared,
/// and each round's ratio is reported too, since the two phases of a round saw the same load on the shared cores.
/// After each phase with capture, the target must catch up before the next phase starts, so no phase pays for another.
/// <para>
/// Run twice: with PostgreSQL's default durability (fsync and synchronous_commit on, as production runs), and with
/// both off (the throwaway servers' setting), where a commit costs nothing and the triggers' CPU is all there is.
/// </para>
/// </summary>
/// <para>
/// With <c>wal</c>, the same against WAL capture (capture=wal): no triggers, the relay reads a logical slot. The target
/// is then 0.95 (issue 17): the write pays only for the WAL that wal_level = logical adds.
/// </para>
public sealed class CaptureOverheadScenario(BenchCluster cluster, TimeSpan phase, int rounds, Action<string> log, bool durable,
    bool wal = false)
{
    public const string Name = "capture_overhead";
    public const string NameNotDurable = "capture_overhead_fsync_off";
    public const string NameWal = "capture_overhead_wal";
    private string Database => (durable ? "bench_capture" : "bench_capture_nd") + (wal ? "_wal" : "");
    private string ScenarioName => wal ? NameWal : durable ? Name : NameNotDurable;
    private const string Plain = "cap_plain";
    private const string Captured = "cap_captured";
    private const int Clients = 2;
    private const long Preloaded = 10_000;
    private static readonly TimeSpan Warmup = TimeSpan.FromSeconds(2);

    public async Task<ScenarioResult> RunAsync(CancellationToken ct)
    {
        const string shape = "(id bigint PRIMARY KEY, name text, amount numeric, created timestamptz)";
        await cluster.CreateDatabaseAsync(Database,
            $"CREATE TABLE {Plain} {shape}; CREATE TABLE {Captured} {shape}", [Plain, Captured], ct);
        await using var ferry = await RelayHarness.CreateAsync(cluster.Source, cluster.Target, Database, [Captured], ct, wal);
        var writer = BenchRoles.WriterConnectionString(cluster.Source, Database);
        await using (var c = await BenchCluster.OpenAsync(writer, ct))
        await using (var preload = new NpgsqlCommand(WriteLoad.Preload(Plain, Preloaded) + ";" + WriteLoad.Preload(Captured, Preloaded), c))
            await preload.ExecuteNonQueryAsync(ct);
        await SetDurabilityAsync(durable, ct);
        await ferry.StartProcessAsync(ct);
        await CaughtUpAsync(ferry, ct);

        var loads = new Dictionary<string, WriteLoad>
        {
            [Plain] = new(writer, Plain, Preloaded),
            [Captured] = new(writer, Captured, Preloaded),
        };
        await loads[Plain].RunAsync(Clients, Warmup, ct);
        await loads[Captured].RunAsync(Clients, Warmup, ct);
        await CaughtUpAsync(ferry, ct);

        var without = new List<double>();
        var with = new List<double>();
        var catchUp = new List<double>();
        foreach (var table in Enumerable.Range(0, rounds).SelectMany(_ => new[] { Plain, Captured }))
        {
            await cluster.Source.ExecuteAsync(Database, "CHECKPOINT", ct);
            var tps = await loads[table].RunAsync(Clients, phase, ct);
            (table == Plain ? without : with).Add(tps);
            var line = $"{ScenarioName} {(table == Plain ? "without" : "with")} capture: {tps:F0} tps";
            if (table == Captured)
            {
                catchUp.Add(await CaughtUpAsync(ferry, ct));
                line += $", target caught up {catchUp[^1]:F0} ms after the phase";
            }
            log(line);
        }
        await ferry.StopAsync(ct);
        await SetDurabilityAsync(false, ct);

        var plainTps = Stats.Median(without);
        var capturedTps = Stats.Median(with);
        var ratio = capturedTps / plainTps;
        var figures = new JsonObject
        {
            ["durable_commits"] = durable,
            ["capture"] = wal ? "wal" : "trigger",
            ["clients"] = Clients,
            ["rounds"] = rounds,
            ["phase_s"] = phase.TotalSeconds,
            ["mix"] = "50% INSERT, 50% UPDATE of a random existing row; single-row autocommit transactions",
            ["tps_without_capture"] = Math.Round(plainTps),
            ["tps_with_capture"] = Math.Round(capturedTps),
            ["ratio"] = Stats.Round(ratio, 3),
            ["round_ratios"] = new JsonArray(with.Zip(without, (w, o) => (JsonNode?)Stats.Round(w / o, 3)).ToArray()),
            ["tps_without_capture_phases"] = new JsonArray(without.Select(v => (JsonNode?)Math.Round(v)).ToArray()),
            ["tps_with_capture_phases"] = new JsonArray(with.Select(v => (JsonNode?)Math.Round(v)).ToArray()),
            ["target_catch_up_ms_after_phase"] = new JsonArray(catchUp.Select(v => (JsonNode?)Stats.Round(v)).ToArray()),
        };
        return new ScenarioResult(ScenarioName, figures, new Target("ratio", ">=", wal ? 0.95 : 0.85), ratio,
        [
            $"with capture {capturedTps:F0} tps, without {plainTps:F0} tps, ratio {ratio:F3} " +
            $"({Clients} clients, {phase.TotalSeconds:F0} s phases, median of {with.Count})",
            $"phases without [{string.Join(", ", without.Select(v => v.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)))}], " +
            $"with [{string.Join(", ", with.Select(v => v.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)))}]; " +
            $"relay caught up [{string.Join(", ", catchUp.Select(v => v.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)))}] ms after each",
        ]);
    }

    private async Task SetDurabilityAsync(bool on, CancellationToken ct)
    {
        var value = on ? "on" : "off";
        foreach (var server in new[] { cluster.Source, cluster.Target })
        {
            await server.ExecuteAsync("postgres", $"ALTER SYSTEM SET fsync = {value}", ct);
            await server.ExecuteAsync("postgres", $"ALTER SYSTEM SET synchronous_commit = {value}", ct);
            await server.ExecuteAsync("postgres", "SELECT pg_reload_conf()", ct);
        }
    }

    /// <summary>Waits until the target holds what the source holds (row count and sum of amounts); returns how long it took.</summary>
    private async Task<double> CaughtUpAsync(RelayHarness ferry, CancellationToken ct)
    {
        const string probe = $"SELECT count(*)::text || '/' || coalesce(sum(amount), 0)::text FROM {Captured}";
        await using var source = await BenchCluster.OpenAsync(BenchRoles.WriterConnectionString(cluster.Source, Database), ct);
        await using var target = await BenchCluster.OpenAsync(BenchRoles.WriterConnectionString(cluster.Target, Database), ct);
        await using var sourceProbe = new NpgsqlCommand(probe, source);
        await using var targetProbe = new NpgsqlCommand(probe, target);
        var want = (string)(await sourceProbe.ExecuteScalarAsync(ct))!;
        var started = Stopwatch.GetTimestamp();
        while ((string)(await targetProbe.ExecuteScalarAsync(ct))! != want)
        {
            if (Stopwatch.GetElapsedTime(started) > TimeSpan.FromSeconds(120))
                throw new TimeoutException($"The target did not catch up with {Captured} in 120 s. Pair error: {ferry.PairError() ?? "none"}");
            await Task.Delay(10, ct);
        }
        return Stats.Millis(started, Stopwatch.GetTimestamp());
    }
}
