using System.Net.Sockets;
using System.Text;

namespace Ferry.Cli;

/// <summary>
/// sd_notify(3) for a <c>Type=notify</c> unit: one datagram to <c>$NOTIFY_SOCKET</c> per state change. Without
/// the variable (not started by systemd) it does nothing. Microsoft.Extensions.Hosting.Systemd would say READY=1
/// when the host has started, which is before the HTTP endpoint listens and the pairs have started, and it would
/// take SIGTERM over from the relay's own handling; this is the protocol's whole client side.
/// </summary>
public static class SystemdNotify
{
    /// <summary>The relay serves HTTP and every pair has started: dependents may start now.</summary>
    public static void Ready(int httpPort) => Send($"READY=1\nSTATUS=relaying; HTTP on port {httpPort}\nMAINPID={Environment.ProcessId}");

    /// <summary>SIGTERM received: the relay is finishing or rolling back its chunks.</summary>
    public static void Stopping() => Send("STOPPING=1\nSTATUS=stopping");

    /// <summary>The log file was reopened after SIGHUP.</summary>
    public static void Reloaded() => Send("STATUS=relaying; log reopened");

    private static void Send(string state)
    {
        if (Environment.GetEnvironmentVariable("NOTIFY_SOCKET") is not { Length: > 1 } path) return;
        // '@' names a socket in the abstract namespace, which the kernel spells with a leading NUL.
        if (path[0] == '@') path = "\0" + path[1..];
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            socket.SendTo(Encoding.UTF8.GetBytes(state), new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException)
        {
            // systemd gone, or a socket we may not write: the relay runs the same without telling it.
        }
    }
}
