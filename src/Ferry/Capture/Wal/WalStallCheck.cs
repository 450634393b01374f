using NpgsqlTypes;

namespace Ferry.Capture.Wal;

/// <summary>
/// A stream that has stopped delivering while the database goes on writing WAL: replication from that database would
/// stop until the relay restarted (seen twice in benchmark runs, cause not found). A walsender that has decoded
/// what is flushed says so with a keepalive whenever it waits, and its position moves the stream's received one;
/// so when nothing is waiting to be logged, the server has flushed past that position and it has not moved for
/// the limit (<see cref="Defaults.WalStallTimeout"/>), the stream is read again from the slot (nothing is lost: the slot keeps what was not logged).
/// </summary>
/// <param name="limit">null: <see cref="Defaults.WalStallTimeout"/></param>
/// <param name="clock">null: the system's UTC clock</param>
public sealed class WalStallCheck(TimeSpan? limit = null, Func<DateTime>? clock = null)
{
    private readonly TimeSpan _limit = limit ?? Defaults.WalStallTimeout;
    private readonly Func<DateTime> _now = clock ?? (() => DateTime.UtcNow);
    private NpgsqlLogSequenceNumber _received;
    private DateTime? _since;

    /// <exception cref="FerryException">the stream has stalled: the capture starts again</exception>
    public void Check(NpgsqlLogSequenceNumber received, NpgsqlLogSequenceNumber flushed, bool idle, string database)
    {
        if (_since is null || received != _received || !idle || flushed <= received)
        {
            _received = received;
            _since = _now();
            return;
        }
        if (_now() - _since < _limit) return;
        throw new FerryException($"WAL capture of {database} stalled: the slot's stream has delivered nothing past {received} for " +
                                 $"{_limit.TotalSeconds:0} s while the database flushed WAL to {flushed}; reading the slot again.");
    }
}
