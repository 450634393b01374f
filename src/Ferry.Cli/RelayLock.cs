namespace Ferry.Cli;

/// <summary>
/// One relay per $FERRY_HOME: the relay holds <c>relay.lock</c> with flock(LOCK_EX) for its whole life. .NET on Unix
/// takes flock(LOCK_EX|LOCK_NB) for <see cref="FileShare.None"/> and flock(LOCK_SH|LOCK_NB) for a read with sharing,
/// failing with EWOULDBLOCK (a plain <see cref="IOException"/>) when they conflict (checked in RelayLockTests). The
/// kernel drops the lock when the process ends, however it ends, so a pid in relay.json is trusted only while the
/// lock is held: a relay killed with -9 leaves a stale pid that some other process may get, never a stale lock.
/// </summary>
public sealed class RelayLock : IDisposable
{
    private readonly FileStream _file;

    private RelayLock(FileStream file) => _file = file;

    /// <summary>Takes the lock, or null when another relay holds it.</summary>
    /// <param name="wait">
    /// how long to keep trying: <see cref="IsHeld"/> takes a shared lock for an instant, which a relay starting at that
    /// instant must wait out rather than take for another relay
    /// </param>
    public static async Task<RelayLock?> TryAcquireAsync(TimeSpan wait, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            try
            {
                var file = FerryHome.OpenLock(FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                // The pid, for people (cat relay.lock); writing it also dates the lock, so that a relay.json older
                // than it is known to be an earlier relay's (see RelayProcess).
                file.SetLength(0);
                file.Write(System.Text.Encoding.ASCII.GetBytes(Environment.ProcessId + "\n"));
                file.Flush(flushToDisk: false);
                return new RelayLock(file);
            }
            catch (IOException e) when (e.GetType() == typeof(IOException))
            {
                if (DateTime.UtcNow >= deadline) return null;
            }
            await Task.Delay(50, ct);
        }
    }

    /// <summary>Whether a relay holds the lock: a shared lock cannot be had beside its exclusive one.</summary>
    public static bool IsHeld()
    {
        try
        {
            using (FerryHome.OpenLock(FileMode.Open, FileAccess.Read, FileShare.ReadWrite)) return false;
        }
        catch (IOException e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false; // no relay ever ran in this home
        }
        catch (IOException e) when (e.GetType() == typeof(IOException))
        {
            return true;
        }
    }

    public void Dispose() => _file.Dispose();
}
