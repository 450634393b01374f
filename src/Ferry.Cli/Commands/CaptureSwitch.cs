using Ferry.Capture.Wal;
using Ferry.ControlStore;
using Ferry.Install;
using Ferry.Postgres;
using Npgsql;

namespace Ferry.Cli.Commands;

/// <summary>
/// `update database NAME capture=wal|trigger` on a database some pair reads from: the new capture starts before the
/// old one stops, so no change falls between them (for a while both record it, which the fold makes harmless).
/// </summary>
public static class CaptureSwitch
{
    private static readonly TimeSpan DrainWait = TimeSpan.FromSeconds(90);

    /// <summary>Runs before the store takes <paramref name="db"/>'s new settings.</summary>
    public static async Task RunAsync(Store store, Database old, Database db, CancellationToken ct)
    {
        if (old.CapturesWal == db.CapturesWal) return;
        var syncs = await store.ListSyncGroupsAsync(ct);
        var capturing = syncs.SelectMany(s => s.Group.Sources).ToHashSet();
        if (!capturing.Contains(db.Name)) return;
        var relay = await RelayProcess.FindAsync(ct);
        if (!db.CapturesWal && relay is null)
            throw new FerryException($"Database {db.Name} was not updated: its slot may hold changes the relay has not read yet, and " +
                                     "only a running relay reads them. Start it (ferry start), then run this command again.");
        // The new capture first: for WAL the slot is made before the triggers go; for triggers they go in while the
        // running relay still reads the slot.
        foreach (var (sync, group) in syncs.Where(s => s.Group.Members.Any(m => m.Database == db.Name)))
        {
            var herd = await store.GetHerdAsync(sync.Herd, ct);
            var databases = new List<Database>();
            foreach (var m in group.Members)
                databases.Add(m.Database == db.Name ? db : await store.GetDatabaseAsync(m.Database, ct));
            var problems = await SyncInstaller.CheckAsync(databases, herd,
                Sync.PairsOf(sync, group).Select(p => p.Target).ToHashSet(), Sync.PairsOf(sync, group), Output.Retry(), ct);
            if (problems.Count > 0)
                throw new FerryException($"Database {db.Name} was not updated; nothing was changed:" + Environment.NewLine + "  " +
                                         string.Join(Environment.NewLine + "  ", problems));
            await SyncInstaller.InstallAsync(databases, herd, capturing, Output.Retry(), ct);
        }
        if (db.CapturesWal)
        {
            Output.Line($"{db.Name} now captures by WAL: its slot is made and its capture triggers are gone.");
            return;
        }
        // Back to triggers: everything committed before they existed must be logged from the slot before it goes.
        await using var c = await Connect.OpenAsync(db, ct, "ferry update database");
        var slot = await WalSlot.NameAsync(c, ct);
        // A transaction of its own that the relay logs nothing for: the slot passes it once every transaction that
        // committed before it is logged (WalCapture lets a slot pass only transactions it has seen, never idle WAL).
        var lsn = await ScalarAsync<string>(c, "SELECT pg_logical_emit_message(true, 'ferry-drain', '')::text", ct);
        var deadline = DateTime.UtcNow + DrainWait;
        while (await ScalarAsync<bool>(c, "SELECT coalesce((SELECT confirmed_flush_lsn < $1::pg_lsn FROM pg_replication_slots WHERE slot_name = $2), false)",
                   ct, lsn, slot))
        {
            if (DateTime.UtcNow > deadline)
                throw new FerryException($"Database {db.Name} was not updated: the relay has not read its slot {slot} up to {lsn} within " +
                                         $"{DrainWait.TotalSeconds:0} s (see ferry status). Its capture triggers are in place, so nothing is lost; " +
                                         "run this command again once the relay catches up.");
            await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
        }
        Output.Line($"{db.Name} now captures by triggers; the relay has read its slot {slot} through {lsn}.");
    }

    /// <summary>
    /// After the relay restarted without reading it: the slot of a database switched back to triggers would hold WAL
    /// on its disk for ever. Its old reader may take a moment to let go.
    /// </summary>
    public static async Task DropSlotAsync(Database old, Database db, CancellationToken ct)
    {
        if (!old.CapturesWal || db.CapturesWal) return;
        await using var c = await Connect.OpenAsync(db, ct, "ferry update database");
        var slot = await WalSlot.NameAsync(c, ct);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (await ScalarAsync<bool>(c, "SELECT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = $1 AND active)", ct, slot)
               && DateTime.UtcNow < deadline)
            await Task.Delay(TimeSpan.FromMilliseconds(200), ct);
        await using var drop = new NpgsqlCommand(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active", c);
        drop.Parameters.AddWithValue(slot);
        await drop.ExecuteNonQueryAsync(ct);
        // Dropped on purpose, after the relay read it through: a slot made later starts afresh, not as one that was lost.
        await using (var forget = new NpgsqlCommand(
            "DELETE FROM ferry.wal_position WHERE slot_name = $1 AND NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = $1)", c))
        {
            forget.Parameters.AddWithValue(slot);
            await forget.ExecuteNonQueryAsync(ct);
        }
        if (await ScalarAsync<bool>(c, "SELECT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = $1)", ct, slot))
            Output.Line($"Slot {slot} is still in use; once the relay has let go of it, drop it in {db.DbName}: " +
                        $"SELECT pg_drop_replication_slot('{slot}');");
        else Output.Line($"Dropped slot {slot}: {db.Name} holds no WAL for ferry any more.");
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection c, string sql, CancellationToken ct, params object[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, c);
        foreach (var a in args) cmd.Parameters.AddWithValue(a);
        return (T)(await cmd.ExecuteScalarAsync(ct))!;
    }
}
