using System.Diagnostics;
using System.Text;

namespace Ferry.Local;

/// <summary>The outcome of one finished child process.</summary>
internal sealed record ChildResult(string Command, int ExitCode, string StandardOutput, string StandardError)
{
    public bool Succeeded => ExitCode == 0;

    public string Describe() =>
        $"`{Command}` exited with code {ExitCode}.\n--- stdout ---\n{StandardOutput.TrimEnd()}\n--- stderr ---\n{StandardError.TrimEnd()}";
}

/// <summary>
/// Runs a program with an argument list (never a shell string, so paths and names need no quoting)
/// and captures both output streams.
/// </summary>
internal static class ChildProcess
{
    public static async Task<ChildResult> RunAsync(
        string fileName, IEnumerable<string> arguments, string? workingDirectory, CancellationToken ct)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            // A child running as another user (runuser) cannot chdir into root's current folder;
            // PostgreSQL tools then complain, so give them a folder they can enter.
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        // Messages are parsed (e.g. "Address already in use"), so keep them untranslated.
        info.Environment["LC_MESSAGES"] = "C";
        info.Environment.Remove("LC_ALL");

        var command = string.Join(' ', new[] { fileName }.Concat(info.ArgumentList));
        using var process = new Process { StartInfo = info };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (stdout) { stdout.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };

        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"Could not run `{command}`: {e.Message}", e);
        }

        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await process.WaitForExitAsync(ct);
        }
        catch (OperationCanceledException)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }

            throw;
        }

        // WaitForExitAsync returns once the streams hit EOF, so both buffers are complete here.
        string output, error;
        lock (stdout) { output = stdout.ToString(); }
        lock (stderr) { error = stderr.ToString(); }
        return new ChildResult(command, process.ExitCode, output, error);
    }
}
