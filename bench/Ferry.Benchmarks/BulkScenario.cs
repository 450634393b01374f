using System.Diagnostics;
using System.Text.Json.Nodes;
using Npgsql;

namespace Ferry.Benchmarks;

/// <summary>
/// <c>bulk_100k</c>: 100,000 rows inserted in one source transaction, from COMMIT returning to the target holding
/// all of them, against a raw binary COPY of the same rows from source to target (the floor for moving them).
/// Each run uses fresh tables, so no TRUNCATE has to be replicated and waited for between runs.
/// </summary>
public sealed class BulkScenario(BenchCluster cluster, int runs, Action<string> log)
{
    public const string Name = "bulk_100k";
    private const string Database = "bench_bulk";
    private const int Rows = 100_000;
    private const int WarmupRows = 5_000;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    private static string Ddl(string table) =>
        $"CREATE TABLE {table} (id bigint PRIMARY KEY, name text, amount numeric, created timestamptz)";

    public async Task<ScenarioResult> RunAsync(CancellationToken ct)
    {
        // bulk_0 and raw_0 warm up both paths (JIT, catalog caches); runs 1..n are measured.
        var replicated = Enumerable.Range(0, runs + 1).Select(i => $"bulk_{i}").ToList();
        var rawTargets = Enumerable.Range(0, runs + 1).Select(i => $"raw_{i}").ToList();
        var all = replicated.Concat(rawTargets).ToList();
        await cluster.CreateDatabaseAsync(Database, string.Join("; ", all.Select(Ddl)), all, ct);
        await using var ferry = await RelayHarness.CreateAsync(cluster.Source, cluster.Target, Database, replicated, ct);
        await ferry.StartAsync(ct);

        await FerryOnceAsync(ferry, "bulk_0", WarmupRows, ct);
        await RawCopyOnceAsync("bulk_0", "raw_0", WarmupRows, ct);
        var ferryMs = new List<double>();
        var insertMs = new List<double>();
        var rawMs = new List<double>();
        for (var run = 1; run <= runs; run++)
        {
            await cluster.SettleAsync(Database, ct);
            var (millis, insertMillis) = await FerryOnceAsync(ferry, $"bulk_{run}", Rows, ct);
            ferryMs.Add(millis);
            insertMs.Add(insertMillis);
            await cluster.SettleAsync(Database, ct);
            rawMs.Add(await RawCopyOnceAsync($"bulk_{run}", $"raw_{run}", Rows, ct));
            log($"{Name} run {run}/{runs}: ferry {ferryMs[^1]:F0} ms, raw copy {rawMs[^1]:F0} ms");
        }
        await ferry.StopAsync(ct);

        var ferryMedian = Stats.Median(ferryMs);
        var rawMedian = Stats.Median(rawMs);
        var ratio = ferryMedian / rawMedian;
        var figures = new JsonObject
        {
            ["rows"] = Rows,
            ["runs"] = runs,
            ["ferry_ms"] = Stats.Round(ferryMedian),
            ["raw_copy_ms"] = Stats.Round(rawMedian),
            ["ratio"] = Stats.Round(ratio, 2),
            ["ferry_ms_runs"] = new JsonArray(ferryMs.Select(v => (JsonNode?)Stats.Round(v)).ToArray()),
            ["raw_copy_ms_runs"] = new JsonArray(rawMs.Select(v => (JsonNode?)Stats.Round(v)).ToArray()),
            ["source_insert_commit_ms"] = Stats.Round(Stats.Median(insertMs)),
            ["ferry_rows_per_s"] = Math.Round(Rows / (ferryMedian / 1000)),
            ["raw_copy_rows_per_s"] = Math.Round(Rows / (rawMedian / 1000)),
        };
        return new ScenarioResult(Name, figures, new Target("ratio", "<=", 2), ratio,
        [
            $"ferry {ferryMedian:F0} ms (commit -> all {Rows:N0} rows on target), raw COPY {rawMedian:F0} ms, ratio {ratio:F2}",
            $"runs: ferry [{string.Join(", ", ferryMs.Select(v => v.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)))}] ms, " +
            $"raw [{string.Join(", ", rawMs.Select(v => v.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)))}] ms",
            $"(not in ferry_ms: the application's INSERT + COMMIT of the rows, capture triggers included, took {Stats.Median(insertMs):F0} ms)",
        ]);
    }

    /// <summary>
    /// Inserts the rows in one transaction as the application; times COMMIT returning → the target's count(*) reaching
    /// them. Polls every 10 ms; a count(*) of 100,000 rows costs ~10 ms of a core, which would starve the relay on
    /// 2 cores, so each poll first probes the highest key (one index lookup) and counts only once it is there.
    /// </summary>
    private async Task<(double Millis, double InsertMillis)> FerryOnceAsync(RelayHarness ferry, string table, int rows,
        CancellationToken ct)
    {
        await using var source = await BenchCluster.OpenAsync(BenchRoles.WriterConnectionString(cluster.Source, Database), ct);
        await using var target = await BenchCluster.OpenAsync(BenchRoles.WriterConnectionString(cluster.Target, Database), ct);
        await using (var noParallel = new NpgsqlCommand("SET max_parallel_workers_per_gather = 0", target))
            await noParallel.ExecuteNonQueryAsync(ct);
        await using var probe = new NpgsqlCommand($"SELECT EXISTS (SELECT FROM {table} WHERE id = {rows})", target);
        await probe.PrepareAsync(ct);
        await using var count = new NpgsqlCommand($"SELECT count(*) FROM {table}", target);
        await count.PrepareAsync(ct);

        var began = Stopwatch.GetTimestamp();
        await using (var tx = await source.BeginTransactionAsync(ct))
        {
            await using var insert = new NpgsqlCommand($"""
                INSERT INTO {table} (id, name, amount, created)
                SELECT g, 'customer ' || g, round((g * 1.37)::numeric, 2), now() - g * interval '1 second'
                FROM generate_series(1, {rows}) AS g
                """, source, tx);
            await insert.ExecuteNonQueryAsync(ct);
            await tx.CommitAsync(ct);
        }
        var committed = Stopwatch.GetTimestamp();
        while (true)
        {
            if ((bool)(await probe.ExecuteScalarAsync(ct))! && (long)(await count.ExecuteScalarAsync(ct))! >= rows)
                return (Stats.Millis(committed, Stopwatch.GetTimestamp()), Stats.Millis(began, committed));
            if (Stopwatch.GetElapsedTime(committed) > Timeout)
                throw new TimeoutException($"{table} did not reach {rows} rows on the target in {Timeout.TotalSeconds} s. " +
                                           $"Pair error: {ferry.PairError() ?? "none"}");
            await Task.Delay(10, ct);
        }
    }

    /// <summary>The floor: the same rows by binary COPY out of the source straight into COPY into an empty target table.</summary>
    private async Task<double> RawCopyOnceAsync(string from, string to, int rows, CancellationToken ct)
    {
        var elapsed = await cluster.RawCopyAsync(Database, from, to, ct);
        var copied = await cluster.Target.ScalarAsync<long>(Database, $"SELECT count(*) FROM {to}", ct);
        if (copied != rows) throw new InvalidOperationException($"Raw COPY moved {copied} rows into {to}, expected {rows}.");
        return elapsed;
    }
}
