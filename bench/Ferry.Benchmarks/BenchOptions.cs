using System.Globalization;

namespace Ferry.Benchmarks;

/// <summary>Command line: <c>[--out PATH] [--only NAME] [--duration SECONDS] [--runs N] [--rounds N]</c>.</summary>
public sealed record BenchOptions(string OutPath, string? Only, TimeSpan PhaseDuration, int BulkRuns, int CaptureRounds)
{
    public static readonly string[] ScenarioNames = ["bulk_100k", "latency_10ps", "capture_overhead", "capture_overhead_fsync_off", "capture_overhead_wal", "round_trips", "onetimecopy_100k",
        "link_drain_100k", "link_latency_100ms", "blackhole_detection", "kill_recovery", "bulk_statements", "apply_updates", "several_relays", "tpcb_two_masters"];

    public const string Usage = """
        Usage: dotnet run -c Release --project bench/Ferry.Benchmarks -- [options]
          --out PATH          where to write the JSON results (default bench/results/latest.json)
          --only NAME[,NAME]  run these scenarios only: bulk_100k, latency_10ps, capture_overhead, capture_overhead_fsync_off, capture_overhead_wal,
                              round_trips,
                              onetimecopy_100k, link_drain_100k, link_latency_100ms, blackhole_detection, kill_recovery,
                              bulk_statements, apply_updates, several_relays, tpcb_two_masters
          --duration SECONDS  length of each capture_overhead and tpcb_two_masters phase (default 20)
          --runs N            bulk_100k, bulk_statements, apply_updates runs of each method, the median is reported (default 3)
          --rounds N          capture_overhead and tpcb_two_masters rounds of (without, with) phases, medians reported (default 2)
        """;

    public bool Runs(string scenario) => Only is null || Only.Split(',').Contains(scenario);

    /// <summary>Parses the arguments; null means help was asked for. Bad input throws <see cref="ArgumentException"/>.</summary>
    public static BenchOptions? Parse(string[] args)
    {
        var options = new BenchOptions(Path.Combine(RepoRoot(), "bench", "results", "latest.json"), null, TimeSpan.FromSeconds(20), 3, 2);
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--out":
                    options = options with { OutPath = Path.GetFullPath(Value()) };
                    break;
                case "--only":
                    var only = Value();
                    if (only.Split(',').FirstOrDefault(n => !ScenarioNames.Contains(n)) is { } unknown)
                        throw new ArgumentException($"Unknown scenario '{unknown}': use one of {string.Join(", ", ScenarioNames)}.");
                    options = options with { Only = only };
                    break;
                case "--duration":
                    options = options with { PhaseDuration = TimeSpan.FromSeconds(Positive(Value(), "--duration")) };
                    break;
                case "--runs":
                    options = options with { BulkRuns = (int)Positive(Value(), "--runs") };
                    break;
                case "--rounds":
                    options = options with { CaptureRounds = (int)Positive(Value(), "--rounds") };
                    break;
                case "-h" or "--help":
                    return null;
                default:
                    throw new ArgumentException($"Unknown argument '{args[i]}'.");
            }
        }
        return options;
    }

    private static double Positive(string text, string name) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0
            ? v
            : throw new ArgumentException($"{name} must be a positive number, not '{text}'.");

    /// <summary>The folder holding Ferry.slnx, so the default output lands in the repository wherever it is run from.</summary>
    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Ferry.slnx"))) return dir.FullName;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Ferry.slnx"))) return dir.FullName;
        return Directory.GetCurrentDirectory();
    }
}
