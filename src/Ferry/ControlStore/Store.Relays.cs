using System.Data.Common;
using Ferry.Relay;

namespace Ferry.ControlStore;

/// <summary>
/// Relays sharing one store (control_007_relays.sql): registration, heartbeats and the leases that divide the syncs.
/// Every time is the store's clock (<see cref="StoreBackend.ClockSql"/>), so relay hosts whose clocks disagree still
/// agree on when a lease has expired.
/// </summary>
public sealed partial class Store
{
    /// <summary>
    /// One heartbeat, in one serializable transaction: registers or refreshes <paramref name="me"/>, renews its leases,
    /// and takes or hands back leases so that it holds its fair share of <paramref name="syncs"/> (<see cref="LeaseShare"/>).
    /// Two relays deciding at once conflict and one of them runs again, so a sync is never taken twice.
    /// <paramref name="unreachable"/> replaces what the relay reported before: the databases it cannot reach now.
    /// </summary>
    public async Task<LeaseRound> HeartbeatAsync(RelayIdentity me, IReadOnlyList<SyncSources> syncs, TimeSpan lease,
        IReadOnlyList<UnreachableDatabase> unreachable, CancellationToken ct)
    {
        LeaseRound round = LeaseRound.Empty;
        await InTransactionAsync(async tx =>
        {
            var now = await ClockAsync(tx, ct);
            var seconds = lease.TotalSeconds;
            await using (var up = Command(tx, """
                INSERT INTO relays (id, host, pid, http, started_at, heartbeat_at, prefers) VALUES ($id, $host, $pid, $http, $now, $now, $prefers)
                ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, http = excluded.http, prefers = excluded.prefers
                """, ("$id", me.Id), ("$host", me.Host), ("$pid", (long)me.Pid), ("$http", me.Http), ("$now", now),
                ("$prefers", string.Join(",", me.Prefers))))
                await up.ExecuteNonQueryAsync(ct);
            // A relay silent for ten lease times is gone for good: status stops listing it.
            await using (var gone = Command(tx, "DELETE FROM relays WHERE heartbeat_at < $old", ("$old", now - 10 * seconds)))
                await gone.ExecuteNonQueryAsync(ct);
            await using (var goneToo = Command(tx, "DELETE FROM relay_unreachable WHERE relay_id NOT IN (SELECT id FROM relays)"))
                await goneToo.ExecuteNonQueryAsync(ct);
            var cannot = (await ReadAsync(tx, "SELECT relay_id, database_name FROM relay_unreachable", r => (Relay: r.GetString(0), Db: r.GetString(1)), ct))
                .ToLookup(u => u.Relay, u => u.Db);
            var mine = unreachable.Select(u => u.Name).ToHashSet();
            // Written only when it changed: each write is a conflict for every other relay's serializable heartbeat.
            if (!mine.SetEquals(cannot[me.Id])) await ReportUnreachableAsync(tx, me.Id, unreachable, ct);
            var relays = await ReadAsync(tx, "SELECT id, heartbeat_at, prefers FROM relays", r =>
                new LiveRelay(r.GetString(0), r.GetDouble(1), Split(r.GetString(2)))
                {
                    Unreachable = r.GetString(0) == me.Id ? mine : cannot[r.GetString(0)].ToHashSet(),
                }, ct);
            var leases = await ReadAsync(tx, "SELECT sync, relay_id, expires_at FROM leases", r =>
                new Lease(r.GetString(0), r.GetString(1), r.GetDouble(2)), ct);
            var decision = LeaseShare.Decide(me, now, seconds, syncs, relays, leases);
            var expires = now + seconds;
            await using (var renew = Command(tx, "UPDATE leases SET expires_at = $exp WHERE relay_id = $id", ("$exp", expires), ("$id", me.Id)))
                await renew.ExecuteNonQueryAsync(ct);
            foreach (var sync in decision.Take)
            {
                // Taken only if still free: the decision was made on what this transaction read.
                await using var take = Command(tx, """
                    INSERT INTO leases (sync, relay_id, expires_at) VALUES ($s, $id, $exp)
                    ON CONFLICT (sync) DO UPDATE SET relay_id = excluded.relay_id, expires_at = excluded.expires_at
                    WHERE leases.expires_at <= $now
                    """, ("$s", sync), ("$id", me.Id), ("$exp", expires), ("$now", now));
                await take.ExecuteNonQueryAsync(ct);
            }
            foreach (var sync in decision.Forget) await DeleteLeaseAsync(tx, me.Id, sync, ct);
            round = new LeaseRound(decision.Run, decision.Surplus);
        }, ct);
        return round;
    }

    /// <summary>Hands back leases on syncs this relay has stopped running, so another takes them without waiting for expiry.</summary>
    public Task ReleaseLeasesAsync(string relayId, IReadOnlyCollection<string> syncs, CancellationToken ct) =>
        InTransactionAsync(async tx =>
        {
            foreach (var sync in syncs) await DeleteLeaseAsync(tx, relayId, sync, ct);
        }, ct);

    /// <summary>A relay stopping cleanly: its leases are free at once, and it leaves the list of relays.</summary>
    public Task LeaveAsync(string relayId, CancellationToken ct) =>
        InTransactionAsync(async tx =>
        {
            await using (var l = Command(tx, "DELETE FROM leases WHERE relay_id = $id", ("$id", relayId))) await l.ExecuteNonQueryAsync(ct);
            await ReportUnreachableAsync(tx, relayId, [], ct);
            await using (var r = Command(tx, "DELETE FROM relays WHERE id = $id", ("$id", relayId))) await r.ExecuteNonQueryAsync(ct);
        }, ct);

    /// <summary>Every registered relay with its heartbeat's age and the syncs it holds unexpired, by the store's clock.</summary>
    public async Task<List<RelayRegistration>> ListRelaysAsync(CancellationToken ct)
    {
        var now = (await QueryAsync(Clock(), r => r.GetDouble(0), ct))[0];
        var leases = await QueryAsync("SELECT sync, relay_id FROM leases WHERE expires_at > $now ORDER BY sync",
            r => (Sync: r.GetString(0), Relay: r.GetString(1)), ct, ("$now", now));
        var cannot = (await QueryAsync("SELECT relay_id, database_name FROM relay_unreachable ORDER BY database_name",
            r => (Relay: r.GetString(0), Db: r.GetString(1)), ct)).ToLookup(u => u.Relay, u => u.Db);
        var together = await UnitsAsync(ct);
        return await QueryAsync("SELECT id, host, pid, http, heartbeat_at, prefers, started_at FROM relays ORDER BY started_at, id",
            r =>
            {
                var held = leases.Where(l => l.Relay == r.GetString(0)).Select(l => l.Sync).ToList();
                return new RelayRegistration(r.GetString(0), r.GetString(1), (int)r.GetInt64(2), r.IsDBNull(3) ? null : r.GetString(3),
                    Math.Max(0, now - r.GetDouble(4)), Split(r.GetString(5)), held, cannot[r.GetString(0)].ToList())
                {
                    Together = together.Where(u => u.Syncs.Any(held.Contains)).ToList(),
                };
            }, ct);
    }

    /// <summary>The units of several active syncs that move between relays only together (<see cref="LeaseShare.Units"/>).</summary>
    private async Task<List<SyncUnit>> UnitsAsync(CancellationToken ct)
    {
        var pairs = (await ListSyncGroupsAsync(ct)).Where(s => s.Sync.Active).SelectMany(s => Sync.PairsOf(s.Sync, s.Group));
        var wal = (await ListDatabasesAsync(ct)).Where(d => d.CapturesWal).Select(d => d.Name).ToHashSet();
        return LeaseShare.Units(RelayPlan.Syncs(pairs, wal)).Where(u => u.Syncs.Count > 1).ToList();
    }

    private async Task ReportUnreachableAsync(DbTransaction tx, string relayId, IReadOnlyList<UnreachableDatabase> unreachable, CancellationToken ct)
    {
        await using (var clear = Command(tx, "DELETE FROM relay_unreachable WHERE relay_id = $id", ("$id", relayId)))
            await clear.ExecuteNonQueryAsync(ct);
        foreach (var u in unreachable)
        {
            await using var add = Command(tx, "INSERT INTO relay_unreachable (relay_id, database_name, since, last_error) VALUES ($id, $db, $since, $e)",
                ("$id", relayId), ("$db", u.Name), ("$since", u.Since.ToUniversalTime().ToString("O", System.Globalization.CultureInfo.InvariantCulture)),
                ("$e", u.LastError));
            await add.ExecuteNonQueryAsync(ct);
        }
    }

    private string Clock() => _backend.ClockSql;

    private async Task<double> ClockAsync(DbTransaction tx, CancellationToken ct)
    {
        await using var cmd = Command(tx, Clock());
        return Convert.ToDouble(await cmd.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture);
    }

    private async Task DeleteLeaseAsync(DbTransaction tx, string relayId, string sync, CancellationToken ct)
    {
        await using var d = Command(tx, "DELETE FROM leases WHERE sync = $s AND relay_id = $id", ("$s", sync), ("$id", relayId));
        await d.ExecuteNonQueryAsync(ct);
    }

    private async Task<List<T>> ReadAsync<T>(DbTransaction tx, string sql, Func<DbDataReader, T> map, CancellationToken ct)
    {
        await using var cmd = Command(tx, sql);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        var rows = new List<T>();
        while (await r.ReadAsync(ct)) rows.Add(map(r));
        return rows;
    }

    private static IReadOnlyList<string> Split(string list) => list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
