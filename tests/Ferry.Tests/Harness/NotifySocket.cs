using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Ferry.Tests.Harness;

/// <summary>
/// systemd's side of sd_notify for a test: a unix datagram socket to put in the relay's <c>NOTIFY_SOCKET</c>, read one
/// message at a time (READY=1, STATUS=…, STOPPING=1), in the order the relay sent them.
/// </summary>
public sealed class NotifySocket : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);

    public NotifySocket()
    {
        // A unix socket's path must fit in 108 bytes: a short name in the temporary folder.
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"ferry-notify-{Guid.NewGuid():N}"[..30] + ".sock");
        _socket.Bind(new UnixDomainSocketEndPoint(Path));
    }

    public string Path { get; }

    /// <summary>The next message the relay sent, waiting up to a minute for it.</summary>
    public async Task<string> NextAsync()
    {
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var n = await _socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    /// <summary>Sends a signal as systemd does (SIGHUP for reload, SIGTERM for stop).</summary>
    public static void Signal(int pid, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        if (kill.ExitCode != 0) throw new InvalidOperationException($"kill -{signal} {pid} exited {kill.ExitCode}");
    }

    public void Dispose()
    {
        _socket.Dispose();
        File.Delete(Path);
    }
}
