using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Ferry.Cli;

/// <summary>The running relay as other commands see it: <c>$FERRY_HOME/relay.json</c> with its pid and HTTP port.</summary>
public sealed record RelayProcess(int Pid, int HttpPort, DateTimeOffset StartedAt)
{
    public static RelayProcess? Find()
    {
        try
        {
            var state = JsonSerializer.Deserialize<RelayProcess>(File.ReadAllText(Defaults.RelayStatePath));
            return state is not null && IsAlive(state.Pid) ? state : null;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public void Write()
    {
        var tmp = Defaults.RelayStatePath + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(this));
        File.Move(tmp, Defaults.RelayStatePath, overwrite: true);
    }

    public static void Clear(int pid)
    {
        try
        {
            var state = JsonSerializer.Deserialize<RelayProcess>(File.ReadAllText(Defaults.RelayStatePath));
            if (state?.Pid == pid) File.Delete(Defaults.RelayStatePath);
        }
        catch (Exception e) when (e is IOException or JsonException)
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
            using var response = await http.SendAsync(new HttpRequestMessage(method, $"http://127.0.0.1:{HttpPort}{path}"), ct);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(ct));
        }
        catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !ct.IsCancellationRequested))
        {
            // Refused, or no answer within the client's timeout: a hung relay, not the user pressing Ctrl-C.
            throw new FerryException($"The relay (pid {Pid}) does not answer on http://127.0.0.1:{HttpPort}/ ({e.Message}). " +
                                     $"See {Defaults.LogPath}; ferry restart may help.");
        }
    }
}
