using System.Globalization;
using System.Text.RegularExpressions;
using Ferry.Local;
using Npgsql;

namespace Ferry.Benchmarks;

/// <summary>
/// CPU seconds per process class over a phase, read from /proc/&lt;pid&gt;/stat (utime + stime, all threads), so a
/// phase's cost per application transaction can be compared across capture modes on a machine others load too: CPU
/// time per transaction moves far less than wall time when the cores are shared. Classes: the source's client
/// backends (the application), its walsenders (logical decoding), its ferry backends (src.ferry.wal: the WAL capture's
/// log writer; src.ferry.read: the pair's fold and read; by application_name), its other processes (walwriter, checkpointer, autovacuum, postmaster), the target's processes,
/// each relay process, and this benchmark process (the clients' driver).
/// </summary>
public sealed partial class ProcessCpu(LocalServer source, LocalServer target, IReadOnlyDictionary<string, Func<int?>> relays)
{
    private static readonly double Tick = 1.0 / 100; // USER_HZ: 100 on Linux

    /// <summary>Ticks per pid, with each pid's class.</summary>
    public sealed record Snapshot(Dictionary<int, (string Class, long Ticks)> Pids, long MachineBusy, long MachineTotal);

    public async Task<Snapshot> TakeAsync(CancellationToken ct)
    {
        var pids = new Dictionary<int, (string, long)>();
        await AddServerAsync(source, "src", pids, ct);
        await AddServerAsync(target, "tgt", pids, ct);
        foreach (var (name, pid) in relays)
            if (pid() is { } p && Ticks(p) is { } t) pids[p] = ("relay." + name, t);
        if (Ticks(Environment.ProcessId) is { } self) pids[Environment.ProcessId] = ("bench", self);
        var (busy, total) = Machine();
        return new Snapshot(pids, busy, total);
    }

    /// <summary>CPU seconds per class between two snapshots (a pid gone by the end is left out; one new is counted whole).</summary>
    public static Dictionary<string, double> Between(Snapshot start, Snapshot end)
    {
        var seconds = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (pid, (cls, ticks)) in end.Pids)
        {
            var before = start.Pids.TryGetValue(pid, out var s) ? s.Ticks : 0;
            seconds[cls] = seconds.GetValueOrDefault(cls) + (ticks - before) * Tick;
        }
        // Share of the machine's CPU in use over the phase, all processes (others' too): how loaded the cores were.
        var total = end.MachineTotal - start.MachineTotal;
        seconds["machine_busy_share"] = total > 0 ? (double)(end.MachineBusy - start.MachineBusy) / total : 0;
        return seconds;
    }

    private static async Task AddServerAsync(LocalServer server, string prefix, Dictionary<int, (string, long)> pids, CancellationToken ct)
    {
        var postmaster = int.Parse(File.ReadLines(Path.Combine(server.DataDirectory, "postmaster.pid")).First(), CultureInfo.InvariantCulture);
        var kinds = new Dictionary<int, string>();
        await using (var c = await BenchCluster.OpenAsync(server.AdminConnectionString(), ct))
        await using (var cmd = new NpgsqlCommand(
            "SELECT pid, backend_type, coalesce(application_name, '') FROM pg_stat_activity WHERE pid <> pg_backend_pid()", c))
        await using (var r = await cmd.ExecuteReaderAsync(ct))
            while (await r.ReadAsync(ct))
            {
                var type = r.GetString(1);
                var app = r.GetString(2);
                kinds[r.GetInt32(0)] = type == "walsender" ? "walsender"
                    : type != "client backend" ? "server"
                    // "ferry wal" (the WAL capture's log writer), "ferry read" (the pair's fold and read), ...
                    : app.StartsWith("ferry", StringComparison.Ordinal) ? "ferry." + string.Join('_', app.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(1))
                    : "clients";
            }
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            if (pid != postmaster && Parent(pid) != postmaster) continue;
            if (Ticks(pid) is not { } t) continue;
            // The target's processes are one class: they all serve the relay's applies.
            var kind = prefix == "tgt" ? "all" : kinds.GetValueOrDefault(pid, "server");
            pids[pid] = ($"{prefix}.{kind}", t);
        }
    }

    private static int? Parent(int pid) => Stat(pid) is { } f ? int.Parse(f[1], CultureInfo.InvariantCulture) : null;

    private static long? Ticks(int pid) =>
        Stat(pid) is { } f ? long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture) : null;

    /// <summary>The fields of /proc/pid/stat after the command name (which may hold spaces): [0] is state, [1] ppid.</summary>
    private static string[]? Stat(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            return text[(text.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static (long Busy, long Total) Machine()
    {
        var cpu = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        var total = cpu.Take(8).Sum();
        return (total - cpu[3] - cpu[4], total);
    }

    /// <summary>The pid in a relay home's relay.json, while it runs.</summary>
    public static int? RelayPid(string home)
    {
        try
        {
            return PidField().Match(File.ReadAllText(Path.Combine(home, "relay.json"))) is { Success: true } m
                ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)
                : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    [GeneratedRegex("\"Pid\"\\s*:\\s*(\\d+)")]
    private static partial Regex PidField();
}

/// <summary>CPU seconds per class and transactions, added up over the phases of one kind (without, trigger, wal).</summary>
public sealed class CpuTally
{
    private readonly Dictionary<string, Dictionary<string, double>> _seconds = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _transactions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<double>> _busy = new(StringComparer.Ordinal);

    public void Add(string kind, Dictionary<string, double> seconds, long transactions)
    {
        if (!_seconds.TryGetValue(kind, out var sum)) _seconds[kind] = sum = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (cls, s) in seconds)
        {
            if (cls == "machine_busy_share") continue;
            sum[cls] = sum.GetValueOrDefault(cls) + s;
        }
        _transactions[kind] = _transactions.GetValueOrDefault(kind) + transactions;
        if (!_busy.TryGetValue(kind, out var busy)) _busy[kind] = busy = [];
        busy.Add(seconds.GetValueOrDefault("machine_busy_share"));
    }

    /// <summary>One phase's CPU milliseconds per 1,000 transactions, per class, for the progress log.</summary>
    public static string Line(Dictionary<string, double> seconds, long transactions) =>
        string.Join(", ", seconds.Where(p => p.Key != "machine_busy_share").OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => $"{p.Key} {p.Value * 1e6 / Math.Max(1, transactions):F0}")) +
        $" ms/1000 tx; machine busy {seconds.GetValueOrDefault("machine_busy_share"):P0}";

    /// <summary>Per kind: CPU ms per 1,000 transactions of each class and in all, and the machine's busy share per phase.</summary>
    public System.Text.Json.Nodes.JsonObject Figures()
    {
        var o = new System.Text.Json.Nodes.JsonObject();
        foreach (var (kind, sum) in _seconds)
        {
            var per = new System.Text.Json.Nodes.JsonObject();
            var tx = Math.Max(1, _transactions[kind]);
            foreach (var (cls, s) in sum.OrderBy(p => p.Key, StringComparer.Ordinal)) per[cls] = Stats.Round(s * 1e6 / tx, 1);
            per["total"] = Stats.Round(sum.Values.Sum() * 1e6 / tx, 1);
            per["transactions"] = _transactions[kind];
            per["machine_busy_share"] = new System.Text.Json.Nodes.JsonArray(_busy[kind].Select(b => (System.Text.Json.Nodes.JsonNode?)Stats.Round(b, 3)).ToArray());
            o[kind] = per;
        }
        return o;
    }
}
