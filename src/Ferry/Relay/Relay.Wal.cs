using Ferry.Capture.Wal;
using Microsoft.Extensions.Logging;

namespace Ferry.Relay;

// WAL capture (capture=wal): one capture task per such source database, beside its listener, waking the same pairs.
public sealed partial class Relay
{
    private Task CaptureWalAsync(Database source, IReadOnlyList<Wakeup> wakeups, CancellationToken ct)
    {
        // Every herd table some pair reads from this database.
        var tables = _workers.Where(w => w.Pair.Source == source.Name).SelectMany(w => w.Herd.Tables).Distinct().ToList();
        var capture = new WalCapture(source, tables, () =>
        {
            foreach (var w in wakeups) w.Ring();
        }, loggers.CreateLogger("ferry.wal"))
        {
            Observed = slot => Status.Slot(source.Name, slot),
        };
        return Task.Run(() => capture.RunAsync(ct), ct);
    }
}
