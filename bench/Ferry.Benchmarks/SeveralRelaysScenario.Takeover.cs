using System.Diagnostics;
using System.Text.Json.Nodes;
using Npgsql;

namespace Ferry.Benchmarks;

public sealed partial class SeveralRelaysScenario
{
    /// <summary>
    /// With the writers on, kills the relay holding the most leases and times, per sync it held, when a survivor holds
    /// the lease and when a row written after the kill has arrived on the target. Leases are read from the store and
    /// rows from the target every 100 ms, so each figure may be up to that (plus a query) late.
    /// </summary>
    private async Task<JsonObject> TakeoverAsync(RelayFleet fleet, SpreadWrites writes, double leaseSeconds, CancellationToken ct)
    {
        await writes.StartAsync(ct);
        // Rows flowing through every relay before the kill, so the victim dies with work in hand.
        await Task.Delay(TimeSpan.FromSeconds(2), ct);
        var pids = fleet.Pids();
        var before = await fleet.LeasesAsync(ct);
        var victim = before.Values.GroupBy(x => x).OrderByDescending(g => g.Count()).First().Key;
        var victimSyncs = before.Where(kv => kv.Value == victim).Select(kv => kv.Key).ToList();
        var troubles = fleet.Troubles();
        var clock = Stopwatch.StartNew();
        await fleet.KillAsync(fleet.HomeOf(victim, pids), ct);
        // A row with an id above these was committed after the kill, so only a survivor can have applied it.
        var marks = await MaxIdsAsync(victimSyncs.Select(TableOf).ToList(), ct);

        var leased = new Dictionary<string, double>();
        var flowing = new Dictionary<string, double>();
        var timeout = TimeSpan.FromSeconds(leaseSeconds * 2 + 60);
        await using var target = await BenchCluster.OpenAsync(BenchRoles.FerryConnectionString(cluster.Target, Database), ct);
        while (flowing.Count < victimSyncs.Count)
        {
            // Recorded, not thrown: the figures of the other phases stand, and a sync that never came back is one.
            if (clock.Elapsed > timeout)
            {
                log($"{Name}: {victimSyncs.Count - flowing.Count} of the killed relay's {victimSyncs.Count} syncs did not replicate " +
                    $"again within {timeout.TotalSeconds:F0} s ({leased.Count} leased by a survivor)");
                break;
            }
            var now = await fleet.LeasesAsync(ct);
            var at = clock.Elapsed.TotalSeconds;
            foreach (var sync in victimSyncs.Where(s => !leased.ContainsKey(s) && now.TryGetValue(s, out var holder) && holder != victim))
                leased[sync] = at;
            var waiting = leased.Keys.Where(s => !flowing.ContainsKey(s)).ToList();
            if (waiting.Count > 0)
            {
                var arrived = await ArrivedAfterAsync(target, waiting.ToDictionary(s => s, s => marks[TableOf(s)]), ct);
                foreach (var sync in arrived) flowing[sync] = clock.Elapsed.TotalSeconds;
            }
            await Task.Delay(100, ct);
        }
        await writes.StopAsync();
        var troublesAfter = fleet.Troubles();
        var drain = await DrainAsync(TimeSpan.FromSeconds(60), ct);
        var after = await fleet.LeasesAsync(ct);
        var figures = new JsonObject
        {
            ["lease_s"] = leaseSeconds,
            ["heartbeat_s"] = Stats.Round(leaseSeconds / 3, 2),
            ["victim_syncs"] = victimSyncs.Count,
            ["leases_before"] = Counts(before),
            ["leases_after"] = Counts(after),
            // Null when some sync was not leased, or did not move rows, within the timeout.
            ["leased_s"] = leased.Count == victimSyncs.Count ? Stats.Round(leased.Values.Max(), 2) : null,
            ["leased_s_first"] = leased.Count > 0 ? Stats.Round(leased.Values.Min(), 2) : null,
            ["rows_flowing_s"] = flowing.Count == victimSyncs.Count ? Stats.Round(flowing.Values.Max(), 2) : null,
            ["rows_flowing_s_median"] = flowing.Count > 0 ? Stats.Round(Stats.Median(flowing.Values.ToList()), 2) : null,
            ["syncs_not_flowing"] = victimSyncs.Count - flowing.Count,
            ["timeout_s"] = timeout.TotalSeconds,
            ["drain_after_s"] = Stats.Round(drain, 2),
            ["survivor_watchdog_stops"] = troublesAfter.WatchdogStops - troubles.WatchdogStops,
            ["survivor_failed_heartbeats"] = troublesAfter.FailedHeartbeats - troubles.FailedHeartbeats,
        };
        log($"{Name}: takeover with a {leaseSeconds} s lease: {victimSyncs.Count} syncs leased by survivors {figures["leased_s"]?.ToString() ?? "not all"} s " +
            $"after kill -9, rows flowing {figures["rows_flowing_s"]?.ToString() ?? "not for all"} s after it");
        return figures;
    }

    /// <summary>How many leases each relay holds, most first.</summary>
    private static JsonArray Counts(Dictionary<string, string> leases) =>
        new(leases.Values.GroupBy(x => x).Select(g => g.Count()).OrderDescending().Select(n => (JsonNode?)n).ToArray());

    private static string TableOf(string sync) => sync["s_".Length..];

    private async Task<Dictionary<string, long>> MaxIdsAsync(IReadOnlyList<string> tables, CancellationToken ct)
    {
        await using var c = await BenchCluster.OpenAsync(BenchRoles.FerryConnectionString(cluster.Source, Database), ct);
        await using var cmd = new NpgsqlCommand(string.Join(" UNION ALL ", tables.Select(t => $"SELECT '{t}', coalesce(max(id), 0) FROM {t}")), c);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        var marks = new Dictionary<string, long>();
        while (await r.ReadAsync(ct)) marks[r.GetString(0)] = r.GetInt64(1);
        return marks;
    }

    /// <summary>Which of the syncs have a row above their mark on the target: index probes, one statement.</summary>
    private static async Task<List<string>> ArrivedAfterAsync(NpgsqlConnection target, Dictionary<string, long> marks, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(string.Join(" UNION ALL ", marks.Select(m =>
            $"SELECT '{m.Key}' WHERE EXISTS (SELECT 1 FROM {TableOf(m.Key)} WHERE id > {m.Value})")), target);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        var arrived = new List<string>();
        while (await r.ReadAsync(ct)) arrived.Add(r.GetString(0));
        return arrived;
    }
}
