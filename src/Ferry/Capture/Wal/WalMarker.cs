namespace Ferry.Capture.Wal;

/// <summary>
/// How ferry's own writes on a capture=wal database are told apart in the WAL: each apply and copy transaction
/// there emits a transactional logical decoding message (any role may) carrying the database's
/// wal_marker, which only ferry's role can read (node_060_wal.sql). The decoder drops every transaction carrying it,
/// as the triggers leave alone the writes of ferry's own sessions.
/// </summary>
public static class WalMarker
{
    public const string Prefix = "ferry";

    /// <summary>
    /// An expression for the SELECT that sets ferry.origin. Emitted on every database, whatever its capture: a WAL
    /// record of a few dozen bytes, a no-op where nothing decodes it, and it needs no flag passed to every writer.
    /// </summary>
    public const string Emit =
        "pg_logical_emit_message(true, 'ferry', (SELECT value FROM ferry.meta WHERE key = 'wal_marker'))";
}
