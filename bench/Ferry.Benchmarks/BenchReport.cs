using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ferry.Benchmarks;

/// <summary>The run's JSON document (machine, time, scenarios and their targets) and the summary for people.</summary>
public static class BenchReport
{
    public static async Task<JsonObject> MachineAsync(BenchCluster cluster, CancellationToken ct) => new()
    {
        ["cores"] = Environment.ProcessorCount,
        ["cpu"] = CpuModel(),
        ["memory_mib"] = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024 * 1024),
        ["os"] = RuntimeInformation.OSDescription,
        ["dotnet"] = RuntimeInformation.FrameworkDescription,
        ["postgresql"] = await cluster.ServerVersionAsync(ct),
        ["postgresql_settings"] = "LocalServer: fsync=off, synchronous_commit=off, full_page_writes=off, shared_buffers=128MB",
        ["ferry_commit"] = await GitAsync("rev-parse --short HEAD", ct),
        // Uncommitted changes under src/ were measured too: the commit alone does not say what ran.
        ["ferry_src_modified"] = await GitAsync("status --porcelain -- src", ct) is { } changes ? changes.Length > 0 : null,
    };

    /// <summary>1, 5 and 15 minute load averages: the cores are shared, so say how busy they were.</summary>
    public static string? LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return null;
        }
    }

    public static JsonObject Document(JsonObject machine, DateTimeOffset started, TimeSpan elapsed, string? loadAtStart,
        IReadOnlyList<ScenarioResult> results) => new()
    {
        ["timestamp"] = started.ToString("O", CultureInfo.InvariantCulture),
        ["duration_s"] = Stats.Round(elapsed.TotalSeconds),
        ["machine"] = machine,
        ["load_average"] = new JsonObject { ["at_start"] = loadAtStart, ["at_end"] = LoadAverage() },
        ["scenarios"] = new JsonObject(results.Select(r =>
            KeyValuePair.Create(r.Name, (JsonNode?)r.ToJson()))),
        ["targets"] = new JsonObject(results.Where(r => r.Target is not null).Select(r =>
            KeyValuePair.Create(r.Name, (JsonNode?)r.Target!.ToString()))),
        ["all_targets_met"] = results.All(r => r.Met != false && !r.Figures.ContainsKey("error")),
    };

    public static async Task WriteAsync(string path, JsonObject document, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllTextAsync(path,
            document.ToJsonString(new JsonSerializerOptions
            {
                WriteIndented = true,
                Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            }) + "\n", ct);
    }

    public static void PrintSummary(JsonObject document, IReadOnlyList<ScenarioResult> results, string outPath)
    {
        var machine = document["machine"]!;
        var load = document["load_average"]!;
        Console.WriteLine();
        Console.WriteLine($"Ferry {machine["ferry_commit"]} on {machine["cores"]} cores ({machine["cpu"]}), PostgreSQL {machine["postgresql"]}; " +
                          $"load average {load["at_start"]} at start, {load["at_end"]} at end");
        foreach (var r in results)
        {
            var verdict = r.Met switch { true => "met", false => "NOT MET", null => "no target" };
            Console.WriteLine($"{r.Name}: {(r.Target is null ? verdict : $"target {r.Target} - {verdict}")}");
            foreach (var line in r.Summary) Console.WriteLine("  " + line);
        }
        Console.WriteLine($"JSON written to {outPath}");
    }

    private static string CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))
                ?.Split(':', 2)[1].Trim() ?? RuntimeInformation.ProcessArchitecture.ToString();
        }
        catch (IOException)
        {
            return RuntimeInformation.ProcessArchitecture.ToString();
        }
    }

    private static async Task<string?> GitAsync(string arguments, CancellationToken ct)
    {
        try
        {
            var info = new ProcessStartInfo("git", arguments)
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            using var git = Process.Start(info);
            if (git is null) return null;
            var output = await git.StandardOutput.ReadToEndAsync(ct);
            await git.WaitForExitAsync(ct);
            return git.ExitCode == 0 ? output.Trim() : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
