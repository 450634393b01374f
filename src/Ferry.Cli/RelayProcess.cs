using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Ferry.Cli;

/// <summary>
/// The running relay as other commands see it: <c>$FERRY_HOME/relay.json</c> with its pid and HTTP port (0 while it
/// starts), believed only while the relay's lock is held (<see cref="RelayLock"/>).
/// </summary>
public sealed record RelayProcess(int Pid, int HttpPort, DateTimeOffset StartedAt, string HttpHost = "127.0.0.1")
{
    /// <summary>The relay's HTTP endpoint as this host reaches it (FERRY_HTTP_BIND may have moved it off loopback).</summary>
    public string Url => $"http://{HttpHost}:{HttpPort}/";

    /// <summary>The relay has its lock but does not serve HTTP yet.</summary>
    public bool Starting => HttpPort == 0;

    /// <summary>The relay holding this home's lock, or null when none does, whatever relay.json says.</summary>
    public static async Task<RelayProcess?> FindAsync(CancellationToken ct)
    {
        // A relay writes relay.json right after it takes the lock; give that instant a moment before giving up.
        for (var attempt = 0; attempt < 50; attempt++)
        {
            if (!RelayLock.IsHeld()) return null;
            if (Read() is { } state && IsAlive(state.Pid)) return state;
            await Task.Delay(100, ct);
        }
        throw new FerryException($"A relay holds {FerryHome.LockPath} but {Defaults.RelayStatePath} does not name it. " +
                                 $"Find it with: fuser -v {FerryHome.LockPath}");
    }

    /// <param name="current">only a relay.json the lock holder wrote: one older than the lock is an earlier relay's</param>
    private static RelayProcess? Read(bool current = true)
    {
        try
        {
            if (current && File.GetLastWriteTimeUtc(Defaults.RelayStatePath) < File.GetLastWriteTimeUtc(FerryHome.LockPath)) return null;
            return JsonSerializer.Deserialize<RelayProcess>(File.ReadAllText(Defaults.RelayStatePath));
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Written by the relay itself, while it holds the lock: at once with port 0, again once it listens.</summary>
    public void Write() => FerryHome.WriteAtomically(Defaults.RelayStatePath, JsonSerializer.Serialize(this));

    public static void Clear(int pid)
    {
        try
        {
            if (Read(current: false)?.Pid == pid) File.Delete(Defaults.RelayStatePath);
        }
        catch (IOException)
        {
        }
    }

    public static bool IsAlive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited && !IsZombie(pid);
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Whether another ferry process runs under this pid (not some process that got the pid since).</summary>
    public static bool IsOtherFerry(int pid)
    {
        if (pid == Environment.ProcessId || !IsAlive(pid)) return false;
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Contains("ferry", StringComparison.OrdinalIgnoreCase);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return true;
        }
    }

    /// <summary>
    /// A relay killed with SIGKILL stays a zombie until its parent reaps it. The detached relay's parent is PID 1,
    /// and in a container that is often a process that never reaps (no tini): the dead relay would then look alive
    /// forever and `ferry start` would refuse to start a new one. State Z in /proc/PID/stat means it runs no more.
    /// </summary>
    private static bool IsZombie(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var afterName = stat.LastIndexOf(')');
            return afterName > 0 && afterName + 2 < stat.Length && stat[afterName + 2] == 'Z';
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>SIGTERM: the relay finishes or rolls back its chunks and exits.</summary>
    public void Terminate() => _ = Kill(Pid, 15);

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    public async Task<string> HttpAsync(HttpMethod method, string path, CancellationToken ct)
    {
        var (status, body) = await SendAsync(method, path, ct);
        if (status >= 400) throw new FerryException(body.Trim());
        return body;
    }

    /// <summary>The relay's answer and its HTTP status, for callers that explain a refusal in their own words.</summary>
    public async Task<(int Status, string Body)> SendAsync(HttpMethod method, string path, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            using var response = await http.SendAsync(new HttpRequestMessage(method, Url + path.TrimStart('/')), ct);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(ct));
        }
        catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !ct.IsCancellationRequested))
        {
            // Refused, or no answer within the client's timeout: a hung relay, not the user pressing Ctrl-C.
            throw new FerryException($"The relay (pid {Pid}) does not answer on {Url} ({e.Message}). " +
                                     $"See {Defaults.LogPath}; ferry restart may help.");
        }
    }
}
