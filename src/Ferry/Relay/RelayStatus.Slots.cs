using System.Collections.Concurrent;
using Ferry.Capture.Wal;
using Prometheus;

namespace Ferry.Relay;

// The slots of capture=wal databases: WAL a slot holds stays on the source's disk until the relay has logged it.
public sealed partial class RelayStatus
{
    private static readonly Gauge SlotRetained = Metrics.CreateGauge("ferry_slot_retained_bytes",
        "WAL the database's replication slot holds on its server (capture=wal): it grows while the relay is away", "database");

    private readonly ConcurrentDictionary<string, SlotState> _slots = new();

    public IReadOnlyDictionary<string, SlotState> Slots => _slots;

    public void Slot(string database, SlotState state)
    {
        _slots[database] = state;
        SlotRetained.WithLabels(database).Set(state.RetainedBytes ?? 0);
    }
}
