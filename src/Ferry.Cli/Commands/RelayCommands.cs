using System.Diagnostics;
using Ferry.ControlStore;
using Ferry.Status;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli.Commands;

/// <summary>`ferry start [--foreground] | stop | restart | kick SYNC`.</summary>
public static class RelayCommands
{
    public static async Task<int> StartAsync(bool foreground, CancellationToken ct)
    {
        using (await Store.OpenAsync(Defaults.StorePath, ct)) { }
        if (RelayProcess.Find() is { } running)
        {
            Output.Line($"The relay is already running (pid {running.Pid}).");
            return 0;
        }
        return foreground ? await RunForegroundAsync(ct) : await StartBackgroundAsync(ct);
    }

    /// <summary>Starts the relay detached (its own session, output to the log) and returns once it runs, as `bucardo start` does.</summary>
    private static async Task<int> StartBackgroundAsync(CancellationToken ct)
    {
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
            if (RelayProcess.Find() is { } relay)
            {
                Output.Line($"Relay started (pid {relay.Pid}); status on http://127.0.0.1:{relay.HttpPort}/ ; log in {Defaults.LogPath}");
                return 0;
            }
            if (child.HasExited && child.ExitCode != 0) break;
            await Task.Delay(100, ct);
        }
        throw new FerryException($"The relay did not start. The end of {Defaults.LogPath}:{Environment.NewLine}{Tail(Defaults.LogPath, 15)}");
    }

    private static async Task<int> RunForegroundAsync(CancellationToken ct)
    {
        var detached = Environment.GetEnvironmentVariable("FERRY_DETACHED") == "1";
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        if (!detached) builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.AddProvider(new FileLoggerProvider(Defaults.LogPath));
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
        var store = await Store.OpenAsync(Defaults.StorePath, ct);
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton<Relay.Relay>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Relay.Relay>());
        using var host = builder.Build();
        var relay = host.Services.GetRequiredService<Relay.Relay>();
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("ferry.http");
        await using var endpoint = new StatusEndpoint(relay, logger);
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(ct);
        await host.StartAsync(ct);
        endpoint.Start(Defaults.HttpPort, stopping.Token);
        await relay.Started.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
        var me = new RelayProcess(Environment.ProcessId, endpoint.Port, DateTimeOffset.UtcNow);
        me.Write();
        try
        {
            using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(
                System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stopping.Cancel(); });
            using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(
                System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; stopping.Cancel(); });
            await Task.Delay(Timeout.Infinite, stopping.Token).ContinueWith(_ => { }, TaskScheduler.Default);
            await host.StopAsync(CancellationToken.None);
        }
        finally
        {
            RelayProcess.Clear(me.Pid);
            store.Dispose();
        }
        return 0;
    }

    public static async Task<int> StopAsync(CancellationToken ct)
    {
        if (RelayProcess.Find() is not { } relay)
        {
            Output.Line("The relay is not running.");
            return 0;
        }
        relay.Terminate();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (RelayProcess.IsAlive(relay.Pid) && DateTime.UtcNow < deadline) await Task.Delay(100, ct);
        if (RelayProcess.IsAlive(relay.Pid))
            throw new FerryException($"The relay (pid {relay.Pid}) did not stop within 30 s. It is safe to kill it: kill -9 {relay.Pid}");
        RelayProcess.Clear(relay.Pid);
        Output.Line($"Relay stopped (pid {relay.Pid}).");
        return 0;
    }

    public static async Task<int> KickAsync(BucardoArguments args, CancellationToken ct)
    {
        args.RejectUnknown("kick");
        using (var store = await Store.OpenAsync(Defaults.StorePath, ct))
            foreach (var s in args.Words) await store.GetSyncAsync(s, ct);
        if (RelayProcess.Find() is not { } relay)
            throw new FerryException("The relay is not running, so there is nothing to kick. Start it with: ferry start " +
                                     "(it replicates every pending change at once).");
        foreach (var s in args.Words.DefaultIfEmpty(""))
        {
            var (status, body) = await relay.SendAsync(HttpMethod.Post, "/kick?sync=" + Uri.EscapeDataString(s), ct);
            // 404: the relay runs no pair of that sync. Say why that happens rather than echo the endpoint.
            if (status == 404)
                throw new FerryException(s.Length == 0
                    ? "The relay runs no sync. Add one (ferry add sync), then: ferry restart"
                    : $"The relay does not run sync {s}: it is inactive, or was added after the relay started " +
                      "(ferry restart picks it up).");
            if (status >= 400) throw new FerryException(body.Trim());
            Output.Line(body.Trim());
        }
        return 0;
    }

    private static string Tail(string path, int lines)
    {
        try
        {
            return string.Join(Environment.NewLine, File.ReadLines(path).TakeLast(lines));
        }
        catch (IOException)
        {
            return "(no log)";
        }
    }
}
