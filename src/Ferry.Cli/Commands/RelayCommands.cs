using System.Diagnostics;
using System.Runtime.InteropServices;
using Ferry.ControlStore;
using Ferry.Status;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli.Commands;

/// <summary>`ferry start [--foreground] | stop | restart | reload | kick SYNC`.</summary>
public static class RelayCommands
{
    public static async Task<int> StartAsync(bool foreground, CancellationToken ct)
    {
        using (await Store.OpenAsync(Defaults.StorePath, ct)) { }
        if (await RelayProcess.FindAsync(ct) is { } running) throw AlreadyRunning(running);
        return foreground ? await RunForegroundAsync(ct) : await StartBackgroundAsync(ct);
    }

    private static FerryException AlreadyRunning(RelayProcess? relay) =>
        new($"The relay is already running{(relay is null ? "" : $" (pid {relay.Pid})")} for {Defaults.Home}: one relay per " +
            "FERRY_HOME. Stop it first (ferry stop), or use ferry restart.");

    /// <summary>Starts the relay detached (its own session, output to the log) and returns once it runs, as `bucardo start` does.</summary>
    private static async Task<int> StartBackgroundAsync(CancellationToken ct)
    {
        // The shell appends the relay's stderr to the log: create it 0600 first, and never append through a link.
        FerryHome.Touch(Defaults.LogPath);
        var logStart = new FileInfo(Defaults.LogPath).Length;
        var entry = Environment.GetCommandLineArgs()[0];
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec setsid \"$@\" < /dev/null > /dev/null 2>> \"$FERRY_LOG\"");
        psi.ArgumentList.Add("ferry");
        psi.ArgumentList.Add(Environment.ProcessPath!);
        if (entry.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)) psi.ArgumentList.Add(entry);
        psi.ArgumentList.Add("start");
        psi.ArgumentList.Add("--foreground");
        psi.Environment["FERRY_LOG"] = Defaults.LogPath;
        psi.Environment["FERRY_DETACHED"] = "1";
        using var child = Process.Start(psi) ?? throw new FerryException("Could not start the relay process.");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            // setsid execs in place (the child leads no process group), so the relay's pid is the child's.
            if (await RelayProcess.FindAsync(ct) is { } relay && (relay.Pid != child.Id || !relay.Starting))
            {
                // Another `ferry start` won the lock at the same instant: this one's relay gives up.
                if (relay.Pid != child.Id)
                {
                    await child.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(10), ct).ContinueWith(_ => { }, TaskScheduler.Default);
                    throw AlreadyRunning(relay);
                }
                Output.Line($"Relay started (pid {relay.Pid}); status on {relay.Url} ; log in {Defaults.LogPath}");
                return 0;
            }
            if (child.HasExited && child.ExitCode != 0) break;
            await Task.Delay(100, ct);
        }
        // The relay said why in its sentences (lines "ferry: ..."); its log has the details.
        var said = Said(Defaults.LogPath, logStart);
        throw new FerryException(said.Length > 0
            ? $"The relay did not start: {said} (more in {Defaults.LogPath})"
            : $"The relay did not start. See {Defaults.LogPath}.");
    }

    private static async Task<int> RunForegroundAsync(CancellationToken ct)
    {
        using var relayLock = await RelayLock.TryAcquireAsync(TimeSpan.FromSeconds(2), ct)
                              ?? throw AlreadyRunning(await RelayProcess.FindAsync(ct));
        var startedAt = DateTimeOffset.UtcNow;
        // At once, over whatever an earlier relay left: from now on relay.json names this process.
        new RelayProcess(Environment.ProcessId, 0, startedAt).Write();
        try
        {
            return await RunLockedAsync(startedAt, ct);
        }
        finally
        {
            RelayProcess.Clear(Environment.ProcessId);
        }
    }

    private static async Task<int> RunLockedAsync(DateTimeOffset startedAt, CancellationToken ct)
    {
        var detached = Environment.GetEnvironmentVariable("FERRY_DETACHED") == "1";
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        var json = Defaults.LogFormat == "json";
        if (detached) { }
        else if (json) builder.Logging.AddProvider(FileLoggerProvider.JsonStdout());
        else builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        var logFile = new FileLoggerProvider(Defaults.LogPath, json);
        builder.Logging.AddProvider(logFile);
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
        using var store = await Store.OpenAsync(Defaults.StorePath, ct);
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton<Relay.Relay>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Relay.Relay>());
        using var host = builder.Build();
        var relay = host.Services.GetRequiredService<Relay.Relay>();
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("ferry.http");
        // SIGHUP would end the process: logrotate and systemctl reload send it (HangUp).
        using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c =>
        {
            c.Cancel = true;
            HangUp.Handle(logFile, detached, relay, host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("ferry"), ct);
        });
        await using var endpoint = new StatusEndpoint(relay, logger);
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(ct);
        // Listen before the pairs start: a port in use stops the relay before it has done anything.
        endpoint.Start(Defaults.HttpBind, Defaults.HttpPort, stopping.Token);
        relay.HttpAddress = $"http://{endpoint.Host}:{endpoint.Port}/";
        await host.StartAsync(ct);
        await relay.Started.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
        new RelayProcess(Environment.ProcessId, endpoint.Port, startedAt, endpoint.Host).Write();
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => Stop(c, stopping));
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => Stop(c, stopping));
        SystemdNotify.Ready(endpoint.Port);
        await Task.Delay(Timeout.Infinite, stopping.Token).ContinueWith(_ => { }, TaskScheduler.Default);
        await host.StopAsync(CancellationToken.None);
        return 0;
    }

    private static void Stop(PosixSignalContext signal, CancellationTokenSource stopping)
    {
        signal.Cancel = true;
        SystemdNotify.Stopping();
        stopping.Cancel();
    }

    public static async Task<int> StopAsync(CancellationToken ct)
    {
        // A free lock means no relay, whatever pid relay.json names: that pid may belong to anything by now.
        if (await RelayProcess.FindAsync(ct) is not { } relay)
        {
            Output.Line("The relay is not running.");
            return 0;
        }
        relay.Terminate();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((RelayLock.IsHeld() || RelayProcess.IsAlive(relay.Pid)) && DateTime.UtcNow < deadline) await Task.Delay(100, ct);
        if (RelayLock.IsHeld())
            throw new FerryException($"The relay (pid {relay.Pid}) did not stop within 30 s. It is safe to kill it: kill -9 {relay.Pid}");
        RelayProcess.Clear(relay.Pid);
        Output.Line($"Relay stopped (pid {relay.Pid}).");
        return 0;
    }

    /// <summary>`ferry reload`: the running relay reads the control store again and changes only what changed.</summary>
    public static async Task<int> ReloadAsync(BucardoArguments args, CancellationToken ct)
    {
        args.RejectUnknown("reload");
        if (args.Words.Count > 0) throw new UsageException("ferry reload takes no arguments: it reloads every sync.");
        if (await ReloadRunningAsync(ct) is not { } report)
            Output.Line("The relay is not running; it reads this configuration when it starts (ferry start).");
        else
            Output.Line(report);
        return 0;
    }

    /// <summary>
    /// After a verb changed a sync or a database: a running relay reloads, starting, stopping or restarting only the
    /// pairs the change touches (the process stays the same: under systemd, the service's main process).
    /// </summary>
    public static async Task ReloadIfRunningAsync(CancellationToken ct)
    {
        if (await ReloadRunningAsync(ct) is { } report) Output.Line(report);
        else Output.Line("The relay is not running; it starts with this configuration (ferry start).");
    }

    /// <summary>The relay's account of the reload, or null when no relay runs.</summary>
    private static async Task<string?> ReloadRunningAsync(CancellationToken ct)
    {
        var relay = await RelayProcess.FindAsync(ct);
        // A relay still starting reads the store after it took the lock: wait for it to serve, then ask, so a
        // change made while it read is not missed either way.
        for (var deadline = DateTime.UtcNow.AddSeconds(60); relay is { Starting: true } && DateTime.UtcNow < deadline;)
        {
            await Task.Delay(100, ct);
            relay = await RelayProcess.FindAsync(ct);
        }
        if (relay is null) return null;
        if (relay.Starting)
            throw new FerryException($"The configuration is saved, but the relay (pid {relay.Pid}) is still starting after 60 s " +
                                     $"and did not take it. See {Defaults.LogPath}, then: ferry reload");
        var (status, body) = await relay.SendAsync(HttpMethod.Post, "/reload", ct);
        if (status >= 400)
            throw new FerryException($"The configuration is saved, but the relay (pid {relay.Pid}) did not take it: {body.Trim()}");
        return body.Trim();
    }

    public static async Task<int> KickAsync(BucardoArguments args, CancellationToken ct)
    {
        args.RejectUnknown("kick");
        using (var store = await Store.OpenAsync(Defaults.StorePath, ct))
            foreach (var s in args.Words) await store.GetSyncAsync(s, ct);
        if (await RelayProcess.FindAsync(ct) is not { } relay)
            throw new FerryException("The relay is not running, so there is nothing to kick. Start it with: ferry start " +
                                     "(it replicates every pending change at once).");
        if (relay.Starting)
            throw new FerryException($"The relay (pid {relay.Pid}) is still starting; its pairs read every pending change as " +
                                     "they start. Kick again in a moment if you need to.");
        foreach (var s in args.Words.DefaultIfEmpty(""))
        {
            var (status, body) = await relay.SendAsync(HttpMethod.Post, "/kick?sync=" + Uri.EscapeDataString(s), ct);
            // 404: the relay runs no pair of that sync. Say why that happens rather than echo the endpoint.
            if (status == 404)
                throw new FerryException(s.Length == 0
                    ? "The relay runs no sync. Add one: ferry add sync (a running relay starts it)."
                    : $"The relay does not run sync {s}: it is inactive (ferry resume {s}), or was added while the relay " +
                      "did not hear of it (ferry reload picks it up).");
            if (status >= 400) throw new FerryException(body.Trim());
            Output.Line(body.Trim());
        }
        return 0;
    }

    /// <summary>The sentences ("ferry: ...") the relay wrote to its log after <paramref name="from"/>, without the prefix.</summary>
    private static string Said(string path, long from)
    {
        try
        {
            using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            s.Seek(Math.Min(from, s.Length), SeekOrigin.Begin);
            using var r = new StreamReader(s);
            return string.Join(" ", r.ReadToEnd().Split('\n').Where(l => l.StartsWith("ferry: ", StringComparison.Ordinal))
                .Select(l => l["ferry: ".Length..].Trim()));
        }
        catch (IOException)
        {
            return "";
        }
    }
}
