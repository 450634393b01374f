using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Ferry.Tests.Harness;

/// <summary>What a headless Chromium made of a page: the DOM after its scripts ran, and what it logged to its console.</summary>
public sealed record BrowserPage(string Dom, IReadOnlyList<string> Console);

/// <summary>
/// A real browser for the tests of pages: Debian's chromium, headless, one process per page, bounded by a timeout and
/// killed with its children whatever happens. Its console comes out on stderr as <c>INFO:CONSOLE</c> lines.
/// </summary>
public static partial class Chromium
{
    public static string Path =>
        new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException(
            "No Chromium found (looked for /usr/bin/chromium, chromium-browser, google-chrome): the page's tests load it in a " +
            "real headless browser. Install it: apt-get install -y chromium");

    public static async Task<BrowserPage> DumpDomAsync(string url, TimeSpan timeout)
    {
        var profile = Directory.CreateTempSubdirectory("ferry-chromium-");
        var psi = new ProcessStartInfo(Path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Its own profile, so tests running at once do not share one; no network beyond the page's own host.
        foreach (var a in new[]
                 {
                     "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                     "--enable-logging=stderr", "--v=0", $"--user-data-dir={profile.FullName}", "--dump-dom", url,
                 })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            using var cts = new CancellationTokenSource(timeout);
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"chromium did not render {url} within {timeout.TotalSeconds:F0} s");
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            try
            {
                profile.Delete(recursive: true);
            }
            catch (IOException)
            {
            }
        }
        var console = ConsoleLine().Matches(await stderr).Select(m => m.Value).ToList();
        var dom = await stdout;
        if (p.ExitCode != 0 || dom.Length == 0)
            throw new InvalidOperationException($"chromium exited {p.ExitCode} rendering {url}:\n{await stderr}");
        return new BrowserPage(dom, console);
    }

    [GeneratedRegex(@"^.*:CONSOLE.*$", RegexOptions.Multiline)]
    private static partial Regex ConsoleLine();
}
