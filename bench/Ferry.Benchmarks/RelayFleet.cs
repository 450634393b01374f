using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Npgsql;

namespace Ferry.Benchmarks;

/// <summary>
/// Several relays as production runs them: each a `ferry start` process of the real binary with a home of its own,
/// all pointed at one PostgreSQL control store by FERRY_STORE. Reads who holds which lease straight from the store's
/// tables, by the store's clock, as the relays themselves decide. Disposing kills any relay still running, so a
/// failed scenario leaves no process behind.
/// </summary>
public sealed class RelayFleet(string storeUri, string storePassword, string storeConnectionString) : IAsyncDisposable
{
    private readonly List<string> _homes = [];
    private readonly List<string> _running = [];

    /// <summary>The homes of the relays started and not yet stopped or killed.</summary>
    public IReadOnlyList<string> Running => _running;

    /// <summary>Starts <paramref name="count"/> relays at once, each with leases of <paramref name="leaseSeconds"/>.</summary>
    public async Task StartAsync(int count, double leaseSeconds, CancellationToken ct)
    {
        var homes = Enumerable.Range(0, count).Select(_ => NewHome()).ToList();
        var lease = leaseSeconds.ToString(CultureInfo.InvariantCulture);
        var started = await Task.WhenAll(homes.Select(h => CliAsync(h, lease, ct, "start")));
        _running.AddRange(homes.Where((_, i) => started[i].Exit == 0));
        if (started.FirstOrDefault(r => r.Exit != 0) is { Output: not null } failed)
            throw new InvalidOperationException($"ferry start failed ({failed.Exit}): {failed.Output}");
    }

    /// <summary>`ferry install dbname=… host=… port=… user=…` in a home of its own: creates the store's schema as its role.</summary>
    public async Task InstallAsync(IReadOnlyDictionary<string, string> keys, CancellationToken ct)
    {
        var args = new[] { "install" }.Concat(keys.Select(k => $"{k.Key}={k.Value}")).ToArray();
        var (exit, output) = await CliAsync(NewHome(), null, ct, withStore: false, args);
        if (exit != 0) throw new InvalidOperationException($"ferry install failed ({exit}): {output}");
    }

    /// <summary>`ferry stop` on every running relay: each hands its leases back as it goes.</summary>
    public async Task StopAsync(CancellationToken ct)
    {
        var stopping = _running.ToList();
        _running.Clear();
        var stopped = await Task.WhenAll(stopping.Select(h => CliAsync(h, null, ct, "stop")));
        if (stopped.FirstOrDefault(r => r.Exit != 0) is { Output: not null } failed)
            throw new InvalidOperationException($"ferry stop failed ({failed.Exit}): {failed.Output}");
    }

    /// <summary>The pid each running relay wrote in its relay.json, by home.</summary>
    public Dictionary<string, int> Pids() => _running.ToDictionary(h => h, h => PidOf(h) ?? throw new InvalidOperationException($"No relay.json in {h}."));

    /// <summary>SIGKILL: no handler runs and no lease is handed back. Returns once the process is gone.</summary>
    public async Task KillAsync(string home, CancellationToken ct)
    {
        var pid = PidOf(home) ?? throw new InvalidOperationException($"No relay.json in {home}.");
        _running.Remove(home);
        Kill(pid);
        var deadline = Stopwatch.StartNew();
        while (!IsGone(pid))
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(10)) throw new TimeoutException($"Relay pid {pid} did not die.");
            await Task.Delay(10, ct);
        }
    }

    /// <summary>Unexpired leases by the store's clock: sync → relay id (which holds the relay's pid: host:pid:tag).</summary>
    public async Task<Dictionary<string, string>> LeasesAsync(CancellationToken ct)
    {
        await using var c = await BenchCluster.OpenAsync(storeConnectionString, ct);
        await using var cmd = new NpgsqlCommand(
            "SELECT sync, relay_id FROM ferry_control.leases WHERE expires_at > extract(epoch FROM clock_timestamp())", c);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        var leases = new Dictionary<string, string>();
        while (await r.ReadAsync(ct)) leases[r.GetString(0)] = r.GetString(1);
        return leases;
    }

    /// <summary>The home whose relay a lease's relay id names.</summary>
    public string HomeOf(string relayId, IReadOnlyDictionary<string, int> pids) =>
        pids.Single(p => relayId.Contains($":{p.Value}:", StringComparison.Ordinal)).Key;

    /// <summary>
    /// How often the relays have logged that they stopped their pairs for want of a lease renewal, and that a heartbeat
    /// failed, over all their logs so far: a window's figures are the difference of two readings.
    /// </summary>
    public (int WatchdogStops, int FailedHeartbeats) Troubles()
    {
        var (stops, failed) = (0, 0);
        foreach (var log in _homes.Select(h => Path.Combine(h, "ferry.log")).Where(File.Exists))
        {
            var text = File.ReadAllText(log);
            stops += text.Split("No lease renewal for").Length - 1;
            failed += text.Split("Cannot renew this relay's leases").Length - 1;
        }
        return (stops, failed);
    }

    /// <summary>The tail of a relay's log, for an error that should say why.</summary>
    public string LogTails() => string.Join("\n", _homes.Select(h =>
    {
        var log = Path.Combine(h, "ferry.log");
        if (!File.Exists(log)) return $"{h}: no log";
        var text = File.ReadAllText(log);
        return $"{h}:\n{(text.Length > 1500 ? text[^1500..] : text)}";
    }));

    private string NewHome()
    {
        var home = Path.Combine(Path.GetTempPath(), $"ferry-bench-relay-{Guid.NewGuid().ToString("N")[..8]}");
        // 0700, as ferry install makes it: ferry refuses a home others can write.
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(home);
        else Directory.CreateDirectory(home, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        _homes.Add(home);
        return home;
    }

    private Task<(int Exit, string Output)> CliAsync(string home, string? leaseSeconds, CancellationToken ct, params string[] args) =>
        CliAsync(home, leaseSeconds, ct, withStore: true, args);

    private async Task<(int Exit, string Output)> CliAsync(string home, string? leaseSeconds, CancellationToken ct, bool withStore,
        params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Ferry.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["FERRY_HOME"] = home;
        if (withStore) psi.Environment["FERRY_STORE"] = storeUri;
        psi.Environment["PGPASSWORD"] = storePassword;
        if (leaseSeconds is not null) psi.Environment["FERRY_LEASE_SECONDS"] = leaseSeconds;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("Could not run ferry.");
        var output = p.StandardOutput.ReadToEndAsync(ct);
        var error = p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        return (p.ExitCode, await output + await error);
    }

    private static int? PidOf(string home)
    {
        var path = Path.Combine(home, "relay.json");
        try
        {
            return File.Exists(path) ? JsonDocument.Parse(File.ReadAllText(path)).RootElement.GetProperty("Pid").GetInt32() : null;
        }
        catch (Exception e) when (e is IOException or JsonException or KeyNotFoundException)
        {
            return null;
        }
    }

    private static void Kill(int pid)
    {
        try
        {
            using var relay = Process.GetProcessById(pid);
            relay.Kill();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            // Already gone.
        }
    }

    /// <summary>Gone, or a zombie not yet reaped: either way it runs no code and holds no lease renewals.</summary>
    private static bool IsGone(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            return text[(text.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Only a pid that is still one of our relays: relay.json may outlive its process, and pids are reused.</summary>
    private static bool IsOurRelay(int pid, string home)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Contains("Ferry.Cli.dll", StringComparison.Ordinal)
                   && File.ReadAllText($"/proc/{pid}/environ").Contains("FERRY_HOME=" + home + "\0", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        // After a failure: whatever still runs is killed outright, then the homes go.
        foreach (var home in _homes)
            if (PidOf(home) is { } pid && !IsGone(pid) && IsOurRelay(pid, home))
                Kill(pid);
        await Task.Delay(200);
        // To read the relays' logs after a run: BENCH_KEEP_RELAY_HOMES=1 leaves the homes (ferry.log in each). Not a
        // FERRY_ name: the relays inherit the environment and warn of FERRY_ variables they do not know.
        if (Environment.GetEnvironmentVariable("BENCH_KEEP_RELAY_HOMES") == "1") return;
        foreach (var home in _homes)
        {
            try
            {
                Directory.Delete(home, recursive: true);
            }
            catch (IOException)
            {
                // A temporary folder left behind is harmless.
            }
        }
    }
}
