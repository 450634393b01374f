using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Ferry.Local;

namespace Ferry.Benchmarks;

/// <summary>
/// <c>tpcb_two_masters</c>: pgbench's TPC-B-like transaction (three UPDATEs, a SELECT and an INSERT) run on both
/// servers at once, as two masters, with ferry replicating between them in each direction, against the same load on
/// databases ferry does not touch. Three databases on each server: without ferry, with trigger capture, with WAL
/// capture (each mode its own relay process); phases rotate through them, each round starting one mode further
/// along, so each ratio compares phases of the same round, and after each phase with ferry both masters must hold the same rows before the next
/// starts, so no phase pays for another's backlog.
/// <para>
/// pgbench's own tables, made as <c>pgbench -i</c> makes them at scale 1, but with primary keys (<c>-I p</c> adds
/// them), and pgbench_history given one too (a bigserial id, interleaved between the masters as <c>ferry add sync</c>
/// advises), since ferry replicates keyed tables only. Both masters start from the same rows. With one branch,
/// every transaction on one master conflicts with every concurrent one on the other (the branch's balance): ferry
/// records each conflict and the later edit wins, which is the worst case of a two-master herd.
/// </para>
/// </summary>
public sealed partial class TpcbTwoMastersScenario(BenchCluster cluster, TimeSpan phase, int rounds, Action<string> log)
{
    public const string Name = "tpcb_two_masters";
    private const int ClientsPerMaster = 2;
    private const int Accounts = 100_000;
    private static readonly string[] Tables = ["pgbench_branches", "pgbench_tellers", "pgbench_accounts", "pgbench_history"];
    private static readonly string[] Modes = ["none", "trigger", "wal"];
    private static readonly TimeSpan Warmup = TimeSpan.FromSeconds(2);

    private const string Ddl = """
        CREATE TABLE pgbench_branches (bid int PRIMARY KEY, bbalance int, filler char(88)) WITH (fillfactor = 100);
        CREATE TABLE pgbench_tellers (tid int PRIMARY KEY, bid int, tbalance int, filler char(84)) WITH (fillfactor = 100);
        CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84)) WITH (fillfactor = 100);
        CREATE TABLE pgbench_history (id bigserial PRIMARY KEY, tid int, bid int, aid int, delta int, mtime timestamp, filler char(22));
        INSERT INTO pgbench_branches SELECT 1, 0, '';
        INSERT INTO pgbench_tellers SELECT g, 1, 0, '' FROM generate_series(1, 10) g;
        INSERT INTO pgbench_accounts SELECT g, 1, 0, '' FROM generate_series(1, 100000) g;
        """;

    /// <summary>Both masters must end equal: each table's row count and a hash of its rows.</summary>
    private static readonly string Fingerprint = "SELECT " + string.Join(" || ' ' || ", Tables.Select(t =>
        $"(SELECT count(*) || '/' || coalesce(sum(hashtext(x::text)::bigint), 0) FROM {t} x)"));

    private static string Database(string mode) => "bench_tpcb_" + mode;

    public async Task<ScenarioResult> RunAsync(CancellationToken ct)
    {
        var pgbench = Pgbench();
        foreach (var mode in Modes)
        {
            await cluster.CreateDatabaseAsync(Database(mode), Ddl, Tables, ct);
            // Each master hands out its own history ids, odd on one and even on the other, as ferry advises.
            foreach (var (server, start) in new[] { (cluster.Source, 1), (cluster.Target, 2) })
            {
                await server.ExecuteAsync(Database(mode),
                    $"ALTER SEQUENCE pgbench_history_id_seq INCREMENT BY 2 RESTART WITH {start}; " +
                    $"GRANT USAGE ON SEQUENCE pgbench_history_id_seq TO {BenchRoles.Writer}", ct);
                await server.ExecuteAsync(Database(mode), "VACUUM ANALYZE", ct);
            }
        }
        var relays = new Dictionary<string, RelayHarness>();
        try
        {
            foreach (var mode in Modes.Where(m => m != "none"))
            {
                relays[mode] = await RelayHarness.CreateAsync(cluster.Source, cluster.Target, Database(mode), Tables,
                    Role.Source, ct, walCapture: mode == "wal");
                await relays[mode].StartProcessAsync(ct);
            }
            await cluster.SetDurabilityAsync(true, ct);
            foreach (var mode in Modes) await BothMastersAsync(pgbench, mode, Warmup, ct);
            foreach (var mode in relays.Keys) await ConvergedAsync(mode, relays[mode], ct);

            var tps = Modes.ToDictionary(m => m, _ => new List<double>());
            var converged = Modes.ToDictionary(m => m, _ => new List<double>());
            for (var round = 0; round < rounds; round++)
            {
                // Each round starts one mode further along, so no mode always runs right after another.
                foreach (var mode in Modes.Skip(round % Modes.Length).Concat(Modes.Take(round % Modes.Length)))
                {
                    foreach (var server in new[] { cluster.Source, cluster.Target }) await server.ExecuteAsync("postgres", "CHECKPOINT", ct);
                    tps[mode].Add(await BothMastersAsync(pgbench, mode, phase, ct));
                    var line = $"{Name} {mode}: {tps[mode][^1]:F0} tps on both masters together";
                    if (relays.TryGetValue(mode, out var relay))
                    {
                        converged[mode].Add(await ConvergedAsync(mode, relay, ct));
                        line += $", the masters equal {converged[mode][^1]:F0} ms after the phase";
                    }
                    log(line);
                }
            }
            return Result(tps, converged);
        }
        finally
        {
            await cluster.SetDurabilityAsync(false, CancellationToken.None);
            foreach (var relay in relays.Values) await relay.DisposeAsync();
        }
    }

    private ScenarioResult Result(Dictionary<string, List<double>> tps, Dictionary<string, List<double>> converged)
    {
        var without = Stats.Median(tps["none"]);
        double Ratio(string mode) => Stats.Median(tps[mode]) / without;
        JsonArray Array(IEnumerable<double> values, int digits) => new(values.Select(v => (JsonNode?)Stats.Round(v, digits)).ToArray());
        JsonArray RoundRatios(string mode) => Array(tps[mode].Zip(tps["none"], (w, o) => w / o), 3);
        var figures = new JsonObject
        {
            ["durable_commits"] = true,
            ["scale"] = 1,
            ["clients_per_master"] = ClientsPerMaster,
            ["rounds"] = rounds,
            ["phase_s"] = phase.TotalSeconds,
            ["transaction"] = "pgbench -b tpcb-like -M prepared on both masters at once; pgbench_history keyed by a bigserial id",
            ["tps_without_ferry"] = Math.Round(without),
            ["tps_trigger_capture"] = Math.Round(Stats.Median(tps["trigger"])),
            ["tps_wal_capture"] = Math.Round(Stats.Median(tps["wal"])),
            ["ratio_trigger"] = Stats.Round(Ratio("trigger"), 3),
            ["ratio_wal"] = Stats.Round(Ratio("wal"), 3),
            ["round_ratios_trigger"] = RoundRatios("trigger"),
            ["round_ratios_wal"] = RoundRatios("wal"),
            ["tps_phases_without_ferry"] = Array(tps["none"], 0),
            ["tps_phases_trigger"] = Array(tps["trigger"], 0),
            ["tps_phases_wal"] = Array(tps["wal"], 0),
            ["masters_equal_ms_after_phase_trigger"] = Array(converged["trigger"], 0),
            ["masters_equal_ms_after_phase_wal"] = Array(converged["wal"], 0),
        };
        string Phases(string mode) => string.Join(", ", tps[mode].Select(v => v.ToString("F0", CultureInfo.InvariantCulture)));
        // No target in issue 17 for this one: it is reported beside the single-row figure, whose targets are there.
        return new ScenarioResult(Name, figures, null, null,
        [
            $"trigger capture {Ratio("trigger"):F3}, WAL capture {Ratio("wal"):F3} of {without:F0} tps without ferry " +
            $"({ClientsPerMaster} clients on each master, {phase.TotalSeconds:F0} s phases, median of {rounds})",
            $"phases without [{Phases("none")}], trigger [{Phases("trigger")}], wal [{Phases("wal")}]; masters equal after " +
            $"[{string.Join(", ", converged["trigger"].Select(v => v.ToString("F0", CultureInfo.InvariantCulture)))}] / " +
            $"[{string.Join(", ", converged["wal"].Select(v => v.ToString("F0", CultureInfo.InvariantCulture)))}] ms",
        ]);
    }

    /// <summary>The pgbench beside the servers' initdb (PATH may hold only links to the server programs), else PATH's.</summary>
    private static string Pgbench()
    {
        var initdb = new FileInfo(Path.Combine(PostgresBinaries.FindBinDirectory(), "initdb"));
        var real = initdb.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? initdb.FullName;
        var beside = Path.Combine(Path.GetDirectoryName(real)!, "pgbench");
        return File.Exists(beside) ? beside : "pgbench";
    }

    /// <summary>pgbench on both masters at once for <paramref name="duration"/>; their transactions per second added up.</summary>
    private async Task<double> BothMastersAsync(string pgbench, string mode, TimeSpan duration, CancellationToken ct)
    {
        var runs = await Task.WhenAll(new[] { cluster.Source, cluster.Target }.Select(s => PgbenchAsync(pgbench, s, Database(mode), duration, ct)));
        return runs.Sum();
    }

    private static async Task<double> PgbenchAsync(string pgbench, LocalServer server, string database, TimeSpan duration, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(pgbench) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[]
                 {
                     "-n", "-b", "tpcb-like", "-M", "prepared", "-c", $"{ClientsPerMaster}", "-j", $"{ClientsPerMaster}",
                     "-T", $"{Math.Max(1, (int)Math.Round(duration.TotalSeconds))}", "-h", server.Host, "-p", $"{server.Port}",
                     "-U", BenchRoles.Writer, database,
                 })
            psi.ArgumentList.Add(a);
        psi.Environment["PGPASSWORD"] = BenchRoles.WriterPassword;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"Could not run {pgbench}.");
        var output = p.StandardOutput.ReadToEndAsync(ct);
        var error = p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        var text = await output + await error;
        var tps = Tps().Match(text);
        if (p.ExitCode != 0 || !tps.Success)
            throw new InvalidOperationException($"pgbench on {server.Name} {database} failed ({p.ExitCode}): {text}");
        return double.Parse(tps.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    /// <summary>Waits until both masters hold the same rows; returns how long it took.</summary>
    private async Task<double> ConvergedAsync(string mode, RelayHarness relay, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            var a = await cluster.Source.ScalarAsync<string>(Database(mode), Fingerprint, ct);
            var b = await cluster.Target.ScalarAsync<string>(Database(mode), Fingerprint, ct);
            if (a == b) return Stats.Millis(started, Stopwatch.GetTimestamp());
            if (Stopwatch.GetElapsedTime(started) > TimeSpan.FromSeconds(120))
                throw new TimeoutException($"The masters of {Database(mode)} were not equal 120 s after the phase ({a} against {b}). " +
                                           $"Pair error: {relay.PairError() ?? "none"}");
            await Task.Delay(50, ct);
        }
    }

    [GeneratedRegex(@"tps = ([0-9.]+) \(without initial connection time\)")]
    private static partial Regex Tps();
}
