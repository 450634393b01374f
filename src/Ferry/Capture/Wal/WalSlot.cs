using Npgsql;

namespace Ferry.Capture.Wal;

/// <summary>What pg_replication_slots says of a database's slot: null when there is none.</summary>
public sealed record SlotState(string Name, string? WalStatus, long? RetainedBytes)
{
    /// <summary>How far the server had flushed WAL when the slot was read.</summary>
    public NpgsqlTypes.NpgsqlLogSequenceNumber Flushed { get; init; }

    /// <summary>WAL the slot needed was removed (max_slot_wal_keep_size): changes in it are gone for ferry.</summary>
    public bool Lost => WalStatus == "lost";
}

/// <summary>
/// The logical replication slot of a database that captures by WAL (capture=wal): one per database, named after its
/// ferry node id (slot names are per server, and test servers hold many databases). Made by `add sync` and `upgrade`
/// before any copy takes its snapshot, so every transaction the copy does not see is in the slot. Making one needs
/// the REPLICATION attribute (or the managed service's replication role), nothing more.
/// </summary>
public static class WalSlot
{
    public static async Task<string> NameAsync(NpgsqlConnection c, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT value FROM ferry.meta WHERE key = 'node_id'", c);
        var node = (string?)await cmd.ExecuteScalarAsync(ct)
                   ?? throw new FerryException("This database has no ferry node id: install ferry's schema first (ferry upgrade).");
        return "ferry_" + node.Replace("-", "", StringComparison.Ordinal);
    }

    public static async Task<SlotState?> ReadAsync(NpgsqlConnection c, string slot, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(SqlResources.Read("wal_slot.sql"), c);
        cmd.Parameters.AddWithValue(slot);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return null;
        return new SlotState(slot, r.IsDBNull(0) ? null : r.GetString(0), r.IsDBNull(1) ? null : r.GetInt64(1))
        {
            Flushed = r.GetFieldValue<NpgsqlTypes.NpgsqlLogSequenceNumber>(2),
        };
    }

    /// <summary>
    /// Makes the slot if it is missing, or lost. A slot that existed before (its position is recorded) and is gone or
    /// lost missed changes: the database-wide purge marker is raised above every transaction so far, which stops each
    /// pair reading from this database with the `ferry copy` that repairs it (PairReader), as missed tombstones do.
    /// Returns what it did, for the command's output, or null when the slot was there.
    /// </summary>
    public static async Task<string?> EnsureAsync(NpgsqlConnection c, string database, CancellationToken ct)
    {
        var name = await NameAsync(c, ct);
        var state = await ReadAsync(c, name, ct);
        if (state is { Lost: false }) return null;
        if (state is not null) await ExecAsync(c, "SELECT pg_drop_replication_slot($1)", ct, name);
        bool hadPosition;
        await using (var cmd = new NpgsqlCommand("SELECT EXISTS (SELECT FROM ferry.wal_position WHERE slot_name = $1)", c))
        {
            cmd.Parameters.AddWithValue(name);
            hadPosition = (bool)(await cmd.ExecuteScalarAsync(ct))!;
        }
        try
        {
            // Waits for the transactions running now to end: the slot holds every transaction that commits after.
            await ExecAsync(c, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", ct, name);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.InsufficientPrivilege or PostgresErrorCodes.ObjectNotInPrerequisiteState)
        {
            throw new FerryException($"Database {database} captures by WAL (capture=wal) but its replication slot could not be made: " +
                                     $"{e.MessageText}. {WalPublication.Advice}", e);
        }
        await ExecAsync(c, "INSERT INTO ferry.wal_position (slot_name, commit_lsn) VALUES ($1, '0/0') " +
                           "ON CONFLICT (slot_name) DO UPDATE SET commit_lsn = '0/0'", ct, name);
        if (!hadPosition) return $"Made replication slot {name} in {database}.";
        await ExecAsync(c, """
            INSERT INTO ferry.meta (key, value) VALUES ('tombstones_purged_below', pg_current_xact_id()::text)
            ON CONFLICT (key) DO UPDATE SET value = greatest(ferry.meta.value::numeric, excluded.value::numeric)::text
            """, ct);
        return $"Made a new replication slot {name} in {database}: the old one was {(state is null ? "missing" : "lost")}, so changes " +
               $"made there meanwhile were not captured. The pairs reading from {database} stop until it is copied again: " +
               $"ferry copy SYNC from={database} (for each of its syncs).";
    }

    /// <summary>For a pair reading from a capture=wal database: its slot must be there and whole.</summary>
    public static async Task ThrowIfLostAsync(NpgsqlConnection c, Database db, CancellationToken ct)
    {
        if (!db.CapturesWal) return;
        var name = await NameAsync(c, ct);
        var state = await ReadAsync(c, name, ct);
        if (state is { Lost: false }) return;
        throw new FerryException($"Database {db.Name} captures by WAL, but its replication slot {name} is " +
                                 $"{(state is null ? "missing" : "lost (it held more WAL than max_slot_wal_keep_size)")}: changes " +
                                 $"made there since are not captured. Run ferry upgrade (makes a new slot), then ferry copy SYNC " +
                                 $"from={db.Name} for each of its syncs.");
    }

    /// <summary>
    /// One line for `ferry status`, read from the database itself, so it answers while the relay is away: exactly
    /// when the slot holds WAL on the source's disk.
    /// </summary>
    public static async Task<string> DescribeAsync(Database db, CancellationToken ct)
    {
        try
        {
            await using var c = await Postgres.Connect.OpenAsync(db, ct, "ferry status");
            var name = await NameAsync(c, ct);
            var state = await ReadAsync(c, name, ct);
            if (state is null) return $"{db.Name}: capture=wal, no slot {name} yet (ferry upgrade makes it).";
            var held = $"{(state.RetainedBytes ?? 0) / 1048576.0:0.#} MiB of WAL held by slot {name}";
            return state.Lost
                ? $"{db.Name}: capture=wal, slot {name} LOST: changes were not captured; run ferry upgrade, then ferry copy."
                : $"{db.Name}: capture=wal, {held} (wal_status {state.WalStatus}; bound it with max_slot_wal_keep_size).";
        }
        catch (Exception e) when (e is FerryException or NpgsqlException)
        {
            return $"{db.Name}: capture=wal, slot not read: {e.Message}";
        }
    }

    private static async Task ExecAsync(NpgsqlConnection c, string sql, CancellationToken ct, params object[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, c);
        foreach (var a in args) cmd.Parameters.AddWithValue(a);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
