using System.Diagnostics;

namespace Ferry.Tests.Harness;

public sealed record CliResult(int ExitCode, string Out, string Err)
{
    public string All => Out + Err;

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}\n--- stderr\n{Err}";
}

/// <summary>Runs the real `ferry` executable, as a user would, against its own $FERRY_HOME.</summary>
public sealed class FerryCli : IDisposable
{
    public FerryCli()
    {
        Home = Path.Combine(Path.GetTempPath(), "ferry-home-" + Guid.NewGuid().ToString("N")[..8]);
        // 0700, as ferry install makes it: ferry refuses a home that others can write, whatever the umask.
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(Home);
        else Directory.CreateDirectory(Home, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public string Home { get; }

    public Dictionary<string, string> Environment { get; } = new()
    {
        ["FERRY_POLL_SECONDS"] = "0.5",
        ["FERRY_MAX_BACKOFF_SECONDS"] = "2",
    };

    public static string Dll => Path.Combine(AppContext.BaseDirectory, "Ferry.Cli.dll");

    public Task<CliResult> RunAsync(params string[] args) => RunWithInputAsync(null, args);

    /// <summary>Runs a verb with <paramref name="input"/> on its standard input (not a terminal), then end of file.</summary>
    public async Task<CliResult> RunWithInputAsync(string? input, params string[] args)
    {
        using var p = Start(input, args);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await p.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            // A verb that hangs fails its test with what it had printed, rather than with a bare cancellation.
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync();
            return new CliResult(-1, await stdout, await stderr + "\n(killed after 2 minutes)");
        }
        return new CliResult(p.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts a verb and returns at once, for a test that kills it part-way; its output is redirected.</summary>
    public Process Start(params string[] args) => Start(null, args);

    private Process Start(string? input, string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["FERRY_HOME"] = Home;
        foreach (var (k, v) in Environment) psi.Environment[k] = v;
        var p = Process.Start(psi)!;
        if (input is not null) p.StandardInput.Write(input);
        p.StandardInput.Close();
        return p;
    }

    /// <summary>Runs a verb that must succeed, failing the test with its whole output otherwise.</summary>
    public async Task<CliResult> OkAsync(params string[] args)
    {
        var r = await RunAsync(args);
        if (r.ExitCode != 0) throw new Xunit.Sdk.XunitException($"ferry {string.Join(' ', args)} failed: {r}");
        return r;
    }

    public string LogText => File.Exists(Path.Combine(Home, "ferry.log")) ? ReadShared(Path.Combine(Home, "ferry.log")) : "";

    private static string ReadShared(string path)
    {
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    public void Dispose()
    {
        // A relay left behind by a failed test must not outlive it.
        try
        {
            var state = Path.Combine(Home, "relay.json");
            if (File.Exists(state))
            {
                var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(state));
                var pid = json.RootElement.GetProperty("Pid").GetInt32();
                try { Process.GetProcessById(pid).Kill(); } catch (ArgumentException) { }
            }
            Directory.Delete(Home, true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
        }
    }
}
