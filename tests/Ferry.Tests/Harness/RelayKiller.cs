using System.Diagnostics;
using System.Text.Json;

namespace Ferry.Tests.Harness;

/// <summary>SIGKILL for a topology's relay: no handler runs, nothing is flushed or rolled back by the relay.</summary>
public static class RelayKiller
{
    /// <summary>Kills the pid the relay wrote in relay.json, if it runs, and waits until it is really gone.</summary>
    public static Task<bool> KillAsync(Topology t) => KillAsync(t.Cli);

    /// <summary>The relay of <paramref name="cli"/>'s home: one of several sharing a store.</summary>
    public static async Task<bool> KillAsync(FerryCli cli)
    {
        var path = Path.Combine(cli.Home, "relay.json");
        if (!File.Exists(path)) return false;
        int pid;
        try
        {
            pid = JsonDocument.Parse(await File.ReadAllTextAsync(path)).RootElement.GetProperty("Pid").GetInt32();
        }
        catch (Exception e) when (e is IOException or JsonException or KeyNotFoundException)
        {
            return false;
        }
        try
        {
            using var relay = Process.GetProcessById(pid);
            relay.Kill();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return false;
        }
        await Eventually.UntilAsync(() => Task.FromResult(IsGone(pid)), TimeSpan.FromSeconds(10), $"relay pid {pid} to die");
        return true;
    }

    /// <summary>Gone, or a zombie nobody has reaped yet: either way it runs no more code and holds no sockets.</summary>
    private static bool IsGone(int pid)
    {
        var stat = $"/proc/{pid}/stat";
        if (!File.Exists(stat)) return true;
        try
        {
            var text = File.ReadAllText(stat);
            return text[(text.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException)
        {
            return true;
        }
    }
}
