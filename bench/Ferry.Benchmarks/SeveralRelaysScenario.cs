using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Ferry.ControlStore;
using Ferry.Install;
using Npgsql;

namespace Ferry.Benchmarks;

/// <summary>
/// <c>several_relays</c> (issue 18): 50 one-table syncs source → target, run by 1, 2 and 3 relays (processes of the
/// real binary, each its own home) sharing one PostgreSQL control store. For each N, the same steady write load (a
/// fixed number of writer connections, one row per transaction, round the 50 tables) runs for a fixed time, and the
/// figure is the rows per second arriving on the target, with the ratio to one relay in the same run. Then, with
/// three relays, the one holding the most leases is killed with SIGKILL while the writers go on: the time until a
/// survivor holds each of its syncs, and until a row written after the kill arrives for each, once with the default
/// 15 s lease and once with a 3 s one.
/// </summary>
public sealed partial class SeveralRelaysScenario(BenchCluster cluster, Action<string> log)
{
    public const string Name = "several_relays";
    private const string Database = "bench_several_relays";
    private const string StoreDatabase = "bench_several_relays_ctl";
    private const string StoreRole = "ferry_ctl";
    private const string StorePassword = "ferry-ctl-bench-secret";
    private const int Syncs = 50;
    private const int WriterConnections = 4;
    private const double DefaultLease = 15;
    private const double ShortLease = 3;
    private static readonly TimeSpan LoadTime = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(120);

    private readonly List<string> _tables = Enumerable.Range(1, Syncs).Select(i => $"t{i:D2}").ToList();

    public async Task<ScenarioResult> RunAsync(CancellationToken ct)
    {
        await cluster.CreateDatabaseAsync(Database,
            string.Join("; ", _tables.Select(t => $"CREATE TABLE {t} (id bigint PRIMARY KEY, v text NOT NULL)")), _tables, ct);
        var store = await CreateStoreAsync(ct);
        await using var fleet = new RelayFleet(store.Uri, StorePassword, store.ConnectionString);
        await fleet.InstallAsync(store.Keys, ct);
        await ConfigureAsync(store.Keys, ct);
        var writes = new SpreadWrites(BenchRoles.WriterConnectionString(cluster.Source, Database), _tables, WriterConnections);
        try
        {
            var figures = new JsonObject { ["syncs"] = Syncs, ["writer_connections"] = WriterConnections, ["load_s"] = LoadTime.TotalSeconds };
            var perRelays = new JsonObject();
            var rates = new Dictionary<int, double>();
            JsonObject? takeoverDefault = null;
            foreach (var n in new[] { 1, 2, 3 })
            {
                var ready = await StartAsync(fleet, writes, n, DefaultLease, ct);
                var phase = await LoadAsync(fleet, writes, ct);
                rates[n] = phase.RowsPerSecond;
                phase.Figures["ready_s"] = Stats.Round(ready, 1);
                phase.Figures["ratio_to_1_relay"] = Stats.Round(phase.RowsPerSecond / rates[1], 2);
                perRelays[n.ToString(CultureInfo.InvariantCulture)] = phase.Figures;
                log($"{Name}: {n} relay(s): {phase.RowsPerSecond:F0} rows/s arrived ({phase.Figures["written_rows_per_second"]} written), " +
                    $"ratio to 1 relay {rates[n] / rates[1]:F2}; ready {ready:F1} s; watchdog stops while loaded {phase.Figures["watchdog_stops"]}");
                if (n == 3) takeoverDefault = await TakeoverAsync(fleet, writes, DefaultLease, ct);
                await fleet.StopAsync(ct);
            }
            await StartAsync(fleet, writes, 3, ShortLease, ct);
            var takeoverShort = await TakeoverAsync(fleet, writes, ShortLease, ct);
            await fleet.StopAsync(ct);
            var converged = await ConvergedAsync(ct);

            figures["relays"] = perRelays;
            figures["rows_per_second"] = new JsonObject(rates.Select(r =>
                KeyValuePair.Create(r.Key.ToString(CultureInfo.InvariantCulture), (JsonNode?)Stats.Round(r.Value, 0))));
            figures["ratio_to_1_relay"] = new JsonObject(rates.Select(r =>
                KeyValuePair.Create(r.Key.ToString(CultureInfo.InvariantCulture), (JsonNode?)Stats.Round(r.Value / rates[1], 2))));
            figures["takeover"] = new JsonObject { ["lease_15s"] = takeoverDefault, ["lease_3s"] = takeoverShort };
            double? Flowing(JsonObject t) => (double?)t["rows_flowing_s"];
            double? Leased(JsonObject t) => (double?)t["leased_s"];
            string Seconds(double? s, JsonObject t) => s is { } v ? $"{v:F1} s" : $"not for all within {t["timeout_s"]} s ({t["syncs_not_flowing"]} syncs not moving rows)";
            figures["takeover_leased_s_lease_15s"] = Leased(takeoverDefault!);
            figures["takeover_flowing_s_lease_15s"] = Flowing(takeoverDefault!);
            figures["takeover_leased_s_lease_3s"] = Leased(takeoverShort);
            figures["takeover_flowing_s_lease_3s"] = Flowing(takeoverShort);
            figures["converged"] = converged;
            var (stops, failedHeartbeats) = fleet.Troubles();
            figures["watchdog_stops_total"] = stops;
            figures["failed_heartbeats_total"] = failedHeartbeats;
            // README's promise: takeover within the lease plus a heartbeat (a third of it), plus a pair's start and a batch.
            var target = new Target("takeover_flowing_s_lease_15s", "<=", DefaultLease * 4 / 3 + 5);
            // A takeover that never completed misses the target: counted as the timeout.
            return new ScenarioResult(Name, figures, target, Flowing(takeoverDefault!) ?? (double)takeoverDefault!["timeout_s"]!,
            [
                $"{Syncs} syncs, {WriterConnections} writers: rows/s arrived on the target with 1, 2, 3 relays: " +
                string.Join(", ", rates.Select(r => $"{r.Value:F0}")) +
                $" (ratios to 1 relay: {string.Join(", ", rates.Select(r => (r.Value / rates[1]).ToString("F2", CultureInfo.InvariantCulture)))})",
                $"takeover, 15 s lease (default): {takeoverDefault!["victim_syncs"]} syncs leased by survivors {Seconds(Leased(takeoverDefault), takeoverDefault)} " +
                $"after kill -9, rows flowing again {Seconds(Flowing(takeoverDefault), takeoverDefault)} after it",
                $"takeover, 3 s lease: {takeoverShort["victim_syncs"]} syncs leased by survivors {Seconds(Leased(takeoverShort), takeoverShort)} after kill -9, " +
                $"rows flowing again {Seconds(Flowing(takeoverShort), takeoverShort)} after it; every table converged: {converged}",
                $"relays that stopped all their pairs for want of a timely lease renewal (the store reachable): {stops} times in the " +
                $"scenario, {takeoverShort["survivor_watchdog_stops"]} of them by the survivors of the 3 s lease takeover",
            ]);
        }
        catch (Exception e)
        {
            throw new InvalidOperationException($"{e.Message}\nRelay logs:\n{fleet.LogTails()}", e);
        }
        finally
        {
            await writes.StopAsync();
        }
    }

    /// <summary>A store database on the target's server and a role with only CONNECT and CREATE on it.</summary>
    private async Task<(Dictionary<string, string> Keys, string Uri, string ConnectionString)> CreateStoreAsync(CancellationToken ct)
    {
        var server = cluster.Target;
        await server.ExecuteAsync("postgres", $"""
            DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{StoreRole}') THEN CREATE ROLE {StoreRole}; END IF; END $$;
            ALTER ROLE {StoreRole} LOGIN PASSWORD '{StorePassword}' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
            """, ct);
        await server.ExecuteAsync("postgres", $"DROP DATABASE IF EXISTS {StoreDatabase} WITH (FORCE)", ct);
        await server.CreateDatabaseAsync(StoreDatabase, null, ct);
        await server.ExecuteAsync("postgres", $"GRANT CONNECT, CREATE ON DATABASE {StoreDatabase} TO {StoreRole}", ct);
        var keys = new Dictionary<string, string>
        {
            ["dbname"] = StoreDatabase, ["host"] = server.Host, ["port"] = server.Port.ToString(CultureInfo.InvariantCulture), ["user"] = StoreRole,
        };
        return (keys, $"postgresql://{StoreRole}@{server.Host}:{server.Port}/{StoreDatabase}",
            BenchRoles.ConnectionString(server, StoreDatabase, StoreRole, StorePassword));
    }

    /// <summary>One herd and one sync per table, configured in the shared store as `ferry add` would; capture installed once.</summary>
    private async Task ConfigureAsync(Dictionary<string, string> keys, CancellationToken ct)
    {
        using var store = await Store.OpenAsync(StoreAddress.Postgres(keys, StorePassword, null, "the benchmark"), ct);
        var src = BenchRoles.FerryDatabase("src", cluster.Source, Database);
        var tgt = BenchRoles.FerryDatabase("tgt", cluster.Target, Database);
        await store.AddDatabaseAsync(src, ct);
        await store.AddDatabaseAsync(tgt, ct);
        await store.AddDbGroupAsync(new DbGroup("g", [new DbGroupMember("src", Role.Source), new DbGroupMember("tgt", Role.Target)]), ct);
        var all = new Herd("all", _tables.Select(t => TableName.Parse("public." + t)).ToList());
        var problems = await SyncInstaller.CheckAsync([src, tgt], all, Ferry.Postgres.LinkRetry.None, ct);
        if (problems.Count > 0) throw new InvalidOperationException("Ferry's checks failed:\n  " + string.Join("\n  ", problems));
        await SyncInstaller.InstallAsync([src, tgt], all, new HashSet<string> { "src" }, Ferry.Postgres.LinkRetry.None, ct);
        foreach (var t in _tables)
        {
            await store.AddToHerdAsync("h_" + t, [TableName.Parse("public." + t)], ct);
            await store.AddSyncAsync(new Sync("s_" + t, "h_" + t, "g", Resolve.ConflictRule.Latest, Active: true), ct);
        }
    }

    /// <summary>
    /// Starts <paramref name="relays"/> relays and waits until they hold every lease, each at most its fair share, and
    /// a row written to every table has arrived; returns the seconds that took.
    /// </summary>
    private async Task<double> StartAsync(RelayFleet fleet, SpreadWrites writes, int relays, double leaseSeconds, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        await fleet.StartAsync(relays, leaseSeconds, ct);
        var share = (Syncs + relays - 1) / relays;
        while (await fleet.LeasesAsync(ct) is var l && (l.Count != Syncs || l.Values.Distinct().Count() != relays
                                                        || l.Values.GroupBy(x => x).Any(g => g.Count() > share)))
        {
            if (clock.Elapsed > ReadyTimeout)
                throw new TimeoutException($"{relays} relays did not share the {Syncs} leases within {ReadyTimeout.TotalSeconds} s: " +
                                           string.Join(", ", l.Values.GroupBy(x => x).Select(g => $"{g.Key} {g.Count()}")));
            await Task.Delay(200, ct);
        }
        await writes.OneEachAsync(ct);
        await DrainAsync(ReadyTimeout - clock.Elapsed, ct);
        return clock.Elapsed.TotalSeconds;
    }

    private sealed record Phase(double RowsPerSecond, JsonObject Figures);

    /// <summary>The steady load for <see cref="LoadTime"/>: rows arrived on the target over it, the lag at its end, the drain after.</summary>
    private async Task<Phase> LoadAsync(RelayFleet fleet, SpreadWrites writes, CancellationToken ct)
    {
        var troubles = fleet.Troubles();
        var sourceBefore = await CountAsync(cluster.Source, ct);
        var targetBefore = await CountAsync(cluster.Target, ct);
        await writes.StartAsync(ct);
        var clock = Stopwatch.StartNew();
        await Task.Delay(LoadTime, ct);
        var sourceAfter = await CountAsync(cluster.Source, ct);
        var targetAfter = await CountAsync(cluster.Target, ct);
        var seconds = clock.Elapsed.TotalSeconds;
        await writes.StopAsync();
        var troublesAfter = fleet.Troubles();
        var drain = await DrainAsync(TimeSpan.FromSeconds(60), ct);
        var rate = (targetAfter - targetBefore) / seconds;
        return new Phase(rate, new JsonObject
        {
            ["rows_per_second"] = Stats.Round(rate, 0),
            ["written_rows_per_second"] = Stats.Round((sourceAfter - sourceBefore) / seconds, 0),
            // Within the phase, so less at the mercy of the machine's load than rows/s: how much of what was written arrived.
            ["arrived_of_written"] = Stats.Round((double)(targetAfter - targetBefore) / Math.Max(1, sourceAfter - sourceBefore), 2),
            ["lag_rows_at_end"] = sourceAfter - targetAfter,
            ["drain_s"] = Stats.Round(drain, 2),
            // A relay that reaches the store but renews late stops all its pairs (Relay.Leases' watchdog): it shows here.
            ["watchdog_stops"] = troublesAfter.WatchdogStops - troubles.WatchdogStops,
            ["failed_heartbeats"] = troublesAfter.FailedHeartbeats - troubles.FailedHeartbeats,
        });
    }

    /// <summary>Waits until the target holds every row the source does; returns the seconds it took.</summary>
    private async Task<double> DrainAsync(TimeSpan timeout, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var source = await CountAsync(cluster.Source, ct);
        while (await CountAsync(cluster.Target, ct) != source)
        {
            if (clock.Elapsed > timeout) throw new TimeoutException($"The target did not catch up with the source's {source} rows within {timeout.TotalSeconds:F0} s.");
            await Task.Delay(100, ct);
        }
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>Rows in all 50 tables, in one statement.</summary>
    private async Task<long> CountAsync(Ferry.Local.LocalServer server, CancellationToken ct) =>
        await server.ScalarAsync<long>(Database, "SELECT " + string.Join(" + ", _tables.Select(t => $"(SELECT count(*) FROM {t})")), ct);

    /// <summary>Every table holds the same rows on both sides (ids are unique, so equal counts and sums are the same rows).</summary>
    private async Task<bool> ConvergedAsync(CancellationToken ct)
    {
        var sql = string.Join(" UNION ALL ", _tables.Select(t => $"SELECT '{t}', count(*), coalesce(sum(id), 0) FROM {t}"));
        return await ReadAsync(cluster.Source, sql, ct) is var s && await ReadAsync(cluster.Target, sql, ct) is var t && s.SequenceEqual(t);
    }

    private async Task<List<string>> ReadAsync(Ferry.Local.LocalServer server, string sql, CancellationToken ct)
    {
        await using var c = await BenchCluster.OpenAsync(BenchRoles.FerryConnectionString(server, Database), ct);
        await using var cmd = new NpgsqlCommand(sql + " ORDER BY 1", c);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        var rows = new List<string>();
        while (await r.ReadAsync(ct)) rows.Add($"{r.GetString(0)} {r.GetInt64(1)} {r.GetDecimal(2)}");
        return rows;
    }
}
