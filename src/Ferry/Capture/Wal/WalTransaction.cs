using NpgsqlTypes;

namespace Ferry.Capture.Wal;

/// <summary>One change of a decoded transaction: a key that changed (old and new keys of an update are two), or, with
/// no key, a truncate of the table.</summary>
public readonly record struct WalChange(TableName Table, string[]? Key);

/// <summary>
/// A committed transaction as the slot delivered it, reduced to what capture records: the keys it touched in the
/// herds' tables, in order, its commit time (the changes' clock) and where it ends in the WAL (the slot's position
/// once it is logged).
/// </summary>
public sealed class WalTransaction
{
    public required NpgsqlLogSequenceNumber EndLsn { get; init; }

    public required DateTime CommitTime { get; init; }

    public required IReadOnlyList<WalChange> Changes { get; init; }

    /// <summary>The transaction's id (32 bits, as pgoutput gives it).</summary>
    public uint Xid { get; init; }

    /// <summary>A transaction with nothing to log (ferry's own, or other tables'): only where it ends.</summary>
    public static WalTransaction Nothing(NpgsqlLogSequenceNumber end) => new() { EndLsn = end, CommitTime = default, Changes = [] };
}
