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
            return !p.HasExited;
        }
        catch (ArgumentException)
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
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var response = await http.SendAsync(new HttpRequestMessage(method, $"http://127.0.0.1:{HttpPort}{path}"), ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode) throw new FerryException(body.Trim());
        return body;
    }
}
