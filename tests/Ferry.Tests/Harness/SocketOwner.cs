using System.Globalization;
using System.Net;

namespace Ferry.Tests.Harness;

/// <summary>
/// Which process a local TCP connection belongs to, from Linux's /proc: the socket's inode in /proc/net/tcp, found again
/// among the process's open files. Lets a <see cref="Ferry.Local.FaultProxy"/> cut one relay off a database while
/// another relay on the same host, reaching the same address, is not (<see cref="Ferry.Local.FaultProxy.Only"/>).
/// </summary>
public static class SocketOwner
{
    /// <summary>A predicate for FaultProxy.Only: the client end <paramref name="client"/> is a socket of process <paramref name="pid"/>.</summary>
    public static Func<IPEndPoint, bool> Of(int pid) => client => Owns(pid, client);

    public static bool Owns(int pid, IPEndPoint client)
    {
        // The client's end is this socket's local address: 127.0.0.1 is 0100007F in the kernel's byte order.
        var local = $"{Convert.ToHexString(client.Address.GetAddressBytes().Reverse().ToArray())}:{client.Port:X4}";
        string? inode = null;
        foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length > 9 && string.Equals(f[1], local, StringComparison.OrdinalIgnoreCase) && f[9] != "0")
            {
                inode = f[9];
                break;
            }
        }
        if (inode is null) return false;
        var socket = $"socket:[{inode}]";
        try
        {
            foreach (var fd in Directory.EnumerateFiles($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/fd"))
            {
                try
                {
                    if (new FileInfo(fd).LinkTarget == socket) return true;
                }
                catch (IOException)
                {
                    // Closed while we looked.
                }
            }
        }
        catch (Exception e) when (e is DirectoryNotFoundException or UnauthorizedAccessException)
        {
        }
        return false;
    }
}
