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
/// is then 0.95 (issue 17): the write pays only for the WAL that wal_level = logical adds. With <c>alsoWal</c> (the
/// durable <c>capture_overhead</c>), a WAL-captured table in a database of its own, with its own relay, takes a third
/// phase in each round, so both modes are compared with the same phases without capture.
/// </para>
public sealed class CaptureOverheadScenario(BenchCluster cluster, TimeSpan phase, int rounds, Action<string> log, bool durable,
    bool wal = false, bool alsoWal = false)
{
    public const string Name = "capture_overhead";
    public const string NameNotDurable = "capture_overhead_fsync_off";
    public const string NameWal = "capture_overhead_wal";
    private const string Without = "without";
    // A slot left on a database keeps it from being dropped: each run of a WAL phase has a database of its own.
    private string Database(string capture) =>
        (durable ? "bench_capture" : "bench_capture_nd") + (capture != "wal" ? "" : wal ? "_wal" : "_wal_beside");
    private string ScenarioName => wal ? NameWal : durable ? Name : NameNotDurable;
    private string[] Captures => wal ? ["wal"] : alsoWal ? ["trigger", "wal"] : ["trigger"];
    private const string Plain = "cap_plain";
    private const string Captured = "cap_captured";
    private const int Clients = 2;
    private const long Preloaded = 10_000;
    private static readonly TimeSpan Warmup = TimeSpan.FromSeconds(2);
    private readonly CpuTally _cpu = new();

    public async Task<ScenarioResult> RunAsync(CancellationToken ct)
    {
        const string shape = "(id bigint PRIMARY KEY, name text, amount numeric, created timestamptz)";
        var relays = new Dictionary<string, RelayHarness>();
        try
        {
            // The phases without capture write the plain table of the first mode's database.
            var loads = new Dictionary<string, WriteLoad>();
            foreach (var capture in Captures)
            {
                await cluster.CreateDatabaseAsync(Database(capture),
                    $"CREATE TABLE {Plain} {shape}; CREATE TABLE {Captured} {shape}", [Plain, Captured], ct);
                relays[capture] = await RelayHarness.CreateAsync(cluster.Source, cluster.Target, Database(capture), [Captured], ct, capture == "wal");
                var writer = BenchRoles.WriterConnectionString(cluster.Source, Database(capture));
                await using (var c = await BenchCluster.OpenAsync(writer, ct))
                await using (var preload = new NpgsqlCommand(WriteLoad.Preload(Plain, Preloaded) + ";" + WriteLoad.Preload(Captured, Preloaded), c))
                    await preload.ExecuteNonQueryAsync(ct);
                loads.TryAdd(Without, new WriteLoad(writer, Plain, Preloaded));
                loads[capture] = new WriteLoad(writer, Captured, Preloaded);
            }
            await cluster.SetDurabilityAsync(durable, ct);
            foreach (var capture in Captures)
            {
                await relays[capture].StartProcessAsync(ct);
                await CaughtUpAsync(capture, relays[capture], ct);
            }
            foreach (var load in loads.Values) await load.RunAsync(Clients, Warmup, ct);
            foreach (var capture in Captures) await CaughtUpAsync(capture, relays[capture], ct);

            var tps = loads.Keys.ToDictionary(k => k, _ => new List<double>());
            var cpu = new ProcessCpu(cluster.Source, cluster.Target, relays.ToDictionary(r => r.Key, r => (Func<int?>)(() => r.Value.ProcessId)));
            ProcessCpu.Snapshot? phaseStart = null;
            Dictionary<string, double> phaseCpu = [];
            var catchUp = Captures.ToDictionary(k => k, _ => new List<double>());
            // With three kinds of phase, each round starts one further along (without, trigger, WAL; then trigger, WAL,
            // without; ...): in a fixed order WAL always followed trigger and came out faster than the phases without.
            var kinds = loads.Keys.ToList();
            foreach (var phaseOf in Enumerable.Range(0, rounds).SelectMany(r =>
                         kinds.Count > 2 ? kinds.Skip(r % kinds.Count).Concat(kinds.Take(r % kinds.Count)) : kinds))
            {
                await cluster.Source.ExecuteAsync("postgres", "CHECKPOINT", ct);
                tps[phaseOf].Add(await loads[phaseOf].RunAsync(Clients, phase, ct, async starting =>
                {
                    if (starting) phaseStart = await cpu.TakeAsync(ct);
                    else phaseCpu = ProcessCpu.Between(phaseStart!, await cpu.TakeAsync(ct));
                }));
                _cpu.Add(phaseOf, phaseCpu, loads[phaseOf].LastTransactions);
                log($"{ScenarioName} {phaseOf} phase CPU: {CpuTally.Line(phaseCpu, loads[phaseOf].LastTransactions)}");
                var line = $"{ScenarioName} {(phaseOf == Without ? "without capture" : "with " + phaseOf + " capture")}: {tps[phaseOf][^1]:F0} tps";
                if (phaseOf != Without)
                {
                    catchUp[phaseOf].Add(await CaughtUpAsync(phaseOf, relays[phaseOf], ct));
                    line += $", target caught up {catchUp[phaseOf][^1]:F0} ms after the phase";
                }
                log(line);
            }
            foreach (var relay in relays.Values) await relay.StopAsync(ct);
            await cluster.SetDurabilityAsync(false, ct);
            return Result(tps, catchUp);
        }
        finally
        {
            foreach (var relay in relays.Values) await relay.DisposeAsync();
        }
    }

    private ScenarioResult Result(Dictionary<string, List<double>> tps, Dictionary<string, List<double>> catchUp)
    {
        static string List(IEnumerable<double> values) =>
            string.Join(", ", values.Select(v => v.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)));
        static JsonArray Array(IEnumerable<double> values, int digits) => new(values.Select(v => (JsonNode?)Stats.Round(v, digits)).ToArray());
        var main = Captures[0];
        var without = tps[Without];
        var plainTps = Stats.Median(without);
        var capturedTps = Stats.Median(tps[main]);
        var ratio = capturedTps / plainTps;
        var figures = new JsonObject
        {
            ["durable_commits"] = durable,
            ["capture"] = main,
            ["clients"] = Clients,
            ["rounds"] = rounds,
            ["phase_s"] = phase.TotalSeconds,
            ["mix"] = "50% INSERT, 50% UPDATE of a random existing row; single-row autocommit transactions",
            ["tps_without_capture"] = Math.Round(plainTps),
            ["tps_with_capture"] = Math.Round(capturedTps),
            ["ratio"] = Stats.Round(ratio, 3),
            ["round_ratios"] = Array(tps[main].Zip(without, (w, o) => w / o), 3),
            ["tps_without_capture_phases"] = Array(without, 0),
            ["tps_with_capture_phases"] = Array(tps[main], 0),
            ["target_catch_up_ms_after_phase"] = Array(catchUp[main], 1),
            // CPU time per process class over the measured phases (ProcessCpu): steadier than tps on shared cores.
            ["cpu_ms_per_1000_tx"] = _cpu.Figures(),
        };
        var summary = new List<string>
        {
            $"with {main} capture {capturedTps:F0} tps, without {plainTps:F0} tps, ratio {ratio:F3} " +
            $"({Clients} clients, {phase.TotalSeconds:F0} s phases, median of {tps[main].Count})",
            $"phases without [{List(without)}], with [{List(tps[main])}]; relay caught up [{List(catchUp[main])}] ms after each",
        };
        if (alsoWal && !wal)
        {
            // The same phases without capture are the baseline of both ratios.
            var walRatio = Stats.Median(tps["wal"]) / plainTps;
            figures["tps_with_wal_capture"] = Math.Round(Stats.Median(tps["wal"]));
            figures["ratio_wal"] = Stats.Round(walRatio, 3);
            figures["round_ratios_wal"] = Array(tps["wal"].Zip(without, (w, o) => w / o), 3);
            figures["tps_with_wal_capture_phases"] = Array(tps["wal"], 0);
            figures["target_catch_up_ms_after_phase_wal"] = Array(catchUp["wal"], 1);
            figures["ratio_wal_target"] = 0.95;
            summary.Add($"with WAL capture {Stats.Median(tps["wal"]):F0} tps, ratio {walRatio:F3} against the same phases without " +
                        $"(target 0.95); phases [{List(tps["wal"])}], relay caught up [{List(catchUp["wal"])}] ms after each");
        }
        return new ScenarioResult(ScenarioName, figures, new Target("ratio", ">=", wal ? 0.95 : 0.85), ratio, summary);
    }

    /// <summary>Waits until the target holds what the source holds (row count and sum of amounts); returns how long it took.</summary>
    private async Task<double> CaughtUpAsync(string capture, RelayHarness ferry, CancellationToken ct)
    {
        const string probe = $"SELECT count(*)::text || '/' || coalesce(sum(amount), 0)::text FROM {Captured}";
        await using var source = await BenchCluster.OpenAsync(BenchRoles.WriterConnectionString(cluster.Source, Database(capture)), ct);
        await using var target = await BenchCluster.OpenAsync(BenchRoles.WriterConnectionString(cluster.Target, Database(capture)), ct);
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
