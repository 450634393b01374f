using System.Collections.Concurrent;

namespace Ferry.Capture.Wal;

/// <summary>
/// Applies into a database captured by WAL that are in flight in this relay, per database. The slot decodes only WAL
/// that is flushed; an application's commit with synchronous_commit = off, and the apply's own records, wait for a
/// flush nobody may make soon (the WAL writer flushes whole pages and async commits only). While an apply waits for
/// the capture (ferry.wal_wait), the capture of its database makes one: a small synchronous commit every few ms.
/// </summary>
public static class WalFlushDemand
{
    private static readonly ConcurrentDictionary<string, int> InFlight = new(StringComparer.Ordinal);

    /// <summary>Marks an apply into <paramref name="database"/> in flight until disposed.</summary>
    public static IDisposable Enter(string database)
    {
        InFlight.AddOrUpdate(database, 1, (_, n) => n + 1);
        return new Leave(database);
    }

    public static bool Wanted(string database) => InFlight.TryGetValue(database, out var n) && n > 0;

    private sealed class Leave(string database) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) InFlight.AddOrUpdate(database, 0, (_, n) => n - 1);
        }
    }
}
