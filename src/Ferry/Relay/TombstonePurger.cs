using Ferry.Capture;
using Ferry.ControlStore;
using Ferry.Postgres;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ferry.Relay;

/// <summary>
/// Deletes tombstones (row-version entries whose row is gone) once every pair reading them has passed them and the
/// retention period is over. A pair whose target has not reported for longer than the retention does not hold the
/// purge back: it is away too long, and will be stopped with a call for a re-copy when it returns if tombstones it
/// had not passed were purged (the source records, per table, the xid below which it purged; the reader compares).
/// </summary>
public sealed partial class TombstonePurger(Store store, ILogger logger, TimeSpan? retention = null)
{
    private readonly TimeSpan _retention = retention ?? Defaults.TombstoneRetention;

    public async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(Defaults.PurgeInterval, ct);
                await PurgeOnceAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is FerryException or NpgsqlException)
            {
                LogSkipped(e.Message);
            }
        }
    }

    /// <summary>One pass over every database that is a source of some sync.</summary>
    public async Task<long> PurgeOnceAsync(CancellationToken ct)
    {
        long purged = 0;
        var syncs = (await store.ListSyncsAsync(ct)).Where(s => s.Active).ToList();
        var pairs = new List<(Pair Pair, Herd Herd)>();
        foreach (var sync in syncs)
        {
            var group = await store.GetDbGroupAsync(sync.DbGroup, ct);
            var herd = await store.GetHerdAsync(sync.Herd, ct);
            pairs.AddRange(Sync.PairsOf(sync, group).Select(p => (p, herd)));
        }
        foreach (var source in pairs.Select(p => p.Pair.Source).Distinct())
        {
            var mine = pairs.Where(p => p.Pair.Source == source).ToList();
            var (below, blocked) = await OldestNeededAsync(mine.Select(p => p.Pair), ct);
            if (blocked) continue;
            var tables = mine.SelectMany(p => p.Herd.Tables).Distinct().ToList();
            purged += await PurgeAsync(await store.GetDatabaseAsync(source, ct), tables, below, ct);
        }
        return purged;
    }

    /// <summary>
    /// The lowest xmin of the snapshots the source's pairs have applied through, or that a table held on one of them
    /// waits from (its deletes must reach it when it resumes); null when a target cannot be asked (then nothing is purged: better too many tombstones than a missed delete).
    /// </summary>
    private async Task<(ulong? Below, bool Blocked)> OldestNeededAsync(IEnumerable<Pair> pairs, CancellationToken ct)
    {
        ulong? oldest = null;
        foreach (var pair in pairs)
        {
            try
            {
                await using var c = await Connect.OpenAsync(await store.GetDatabaseAsync(pair.Target, ct), ct, "ferry purge");
                await using var cmd = new NpgsqlCommand("""
                    SELECT least(pg_snapshot_xmin(p.applied_through)::text::numeric,
                                 (SELECT min(pg_snapshot_xmin(h.held_from)::text::numeric) FROM ferry.held_tables AS h
                                  WHERE h.sync_name = p.sync_name AND h.source_name = p.source_name))::text,
                           clock_timestamp() - p.updated_at > $3
                    FROM ferry.progress AS p WHERE p.sync_name = $1 AND p.source_name = $2
                    """, c);
                cmd.Parameters.AddWithValue(pair.Sync);
                cmd.Parameters.AddWithValue(pair.Source);
                cmd.Parameters.AddWithValue(_retention);
                await using var r = await cmd.ExecuteReaderAsync(ct);
                if (!await r.ReadAsync(ct) || r.IsDBNull(0)) return (null, true);  // never ran: it needs everything
                if (r.GetBoolean(1)) continue;                              // away too long: it will need a re-copy
                var xmin = ulong.Parse(r.GetString(0), System.Globalization.CultureInfo.InvariantCulture);
                oldest = oldest is null ? xmin : Math.Min(oldest.Value, xmin);
            }
            catch (FerryException)
            {
                return (null, true);
            }
        }
        return (oldest, false);
    }

    /// <summary>Purges below <paramref name="below"/>, or below the source's own horizon when every pair is away.</summary>
    private async Task<long> PurgeAsync(Database db, IReadOnlyList<TableName> tables, ulong? below, CancellationToken ct)
    {
        await using var c = await Connect.OpenAsync(db, ct, "ferry purge");
        await using (var horizon = new NpgsqlCommand("SELECT pg_snapshot_xmin(pg_current_snapshot())::text", c))
        {
            var now = ulong.Parse((string)(await horizon.ExecuteScalarAsync(ct))!, System.Globalization.CultureInfo.InvariantCulture);
            below = below is null ? now : Math.Min(below.Value, now);
        }
        long purged = 0;
        foreach (var table in tables)
        {
            var shape = await Install.TableCatalog.ReadAsync(c, table, ct);
            if (shape is null) continue;
            var names = new CaptureNames(table);
            var match = string.Join(" AND ", shape.Key.Select(k => $"t.{Quote.Ident(k)} = r.{Quote.Ident(k)}"));
            // In slices, so no purge holds locks or bloats a transaction for long. Each slice raises the table's
            // marker above the xids it purged, in the same statement: a pair whose position does not cover them is
            // told to re-copy; one that saw them all, or a table with nothing purged, is not held up.
            while (true)
            {
                await using var cmd = new NpgsqlCommand($"""
                    WITH gone AS (
                        DELETE FROM {names.RowVersions} AS d WHERE d.ctid IN (
                            SELECT r.ctid FROM {names.RowVersions} AS r
                            WHERE r.ferry_xid < $1::text::xid8 AND r.ferry_version < clock_timestamp() - $2
                              AND NOT EXISTS (SELECT 1 FROM {Quote.Qualified(table)} AS t WHERE {match})
                            LIMIT 10000)
                        RETURNING d.ferry_xid
                    ), mark AS (
                        INSERT INTO ferry.meta (key, value)
                        SELECT $3, (max(ferry_xid::text::numeric) + 1)::text FROM gone HAVING count(*) > 0
                        ON CONFLICT (key) DO UPDATE SET value = greatest(ferry.meta.value::numeric, excluded.value::numeric)::text
                    )
                    SELECT count(*) FROM gone
                    """, c);
                cmd.Parameters.AddWithValue(below.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
                cmd.Parameters.AddWithValue(_retention);
                cmd.Parameters.AddWithValue(names.PurgedBelowKey);
                var n = (long)(await cmd.ExecuteScalarAsync(ct))!;
                purged += n;
                if (n < 10000) break;
            }
        }
        if (purged > 0) LogPurged(db.Name, purged);
        return purged;
    }

    [LoggerMessage(EventId = 400, Level = LogLevel.Information, Message = "Purged {Count} tombstones in {Database}")]
    private partial void LogPurged(string database, long count);

    [LoggerMessage(EventId = 401, Level = LogLevel.Warning, Message = "Tombstone purge skipped: {Message}")]
    private partial void LogSkipped(string message);
}
