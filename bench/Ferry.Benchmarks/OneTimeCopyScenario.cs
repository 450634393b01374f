using System.Diagnostics;
using System.Text.Json.Nodes;
using Ferry.Copy;
using Npgsql;

namespace Ferry.Benchmarks;

/// <summary>
/// <c>onetimecopy_100k</c>: an empty target table filled from a source table of 100,000 rows that predate ferry, by
/// <c>onetimecopy</c> (<see cref="OneTimeCopy"/>: the change logs folded, one snapshot, the rows, the pair's
/// position, one target transaction), against a raw binary COPY of the same rows into another empty table.
/// </summary>
public sealed class OneTimeCopyScenario(BenchCluster cluster, int runs, Action<string> log)
{
    public const string Name = "onetimecopy_100k";
    private const string Database = "bench_copy";
    private const int Rows = 100_000;

    public async Task<ScenarioResult> RunAsync(CancellationToken ct)
    {
        // copy_0 and raw_0 warm up both paths; runs 1..n are measured. Each run fills fresh tables.
        var copied = Enumerable.Range(0, runs + 1).Select(i => $"copy_{i}").ToList();
        var raw = Enumerable.Range(0, runs + 1).Select(i => $"raw_{i}").ToList();
        var all = copied.Concat(raw).ToList();
        await cluster.CreateDatabaseAsync(Database, string.Join("; ",
            all.Select(t => $"CREATE TABLE {t} (id bigint PRIMARY KEY, name text, amount numeric, created timestamptz)")), all, ct);
        await using (var c = await BenchCluster.OpenAsync(BenchRoles.WriterConnectionString(cluster.Source, Database), ct))
        await using (var load = new NpgsqlCommand(string.Join("; ", copied.Select(t => WriteLoad.Preload(t, Rows))), c) { CommandTimeout = 600 })
            await load.ExecuteNonQueryAsync(ct);
        // The sync as a user sets it up (capture installed); the relay is not started, as add sync copies before it.
        await using var ferry = await RelayHarness.CreateAsync(cluster.Source, cluster.Target, Database, copied, ct);
        var source = BenchRoles.FerryDatabase("src", cluster.Source, Database);
        var target = BenchRoles.FerryDatabase("tgt", cluster.Target, Database);

        var copyMs = new List<double>();
        var rawMs = new List<double>();
        for (var run = 0; run <= runs; run++)
        {
            await cluster.SettleAsync(Database, ct);
            var started = Stopwatch.GetTimestamp();
            await OneTimeCopy.CopyAsync(source, target, "s", [TableName.Parse(copied[run])], targetKeepsVersions: false, replace: false, restartFrom: [], ct);
            var copyMillis = Stats.Millis(started, Stopwatch.GetTimestamp());
            await CheckAsync(copied[run], ct);
            await cluster.SettleAsync(Database, ct);
            var rawMillis = await cluster.RawCopyAsync(Database, copied[run], raw[run], ct);
            await CheckAsync(raw[run], ct);
            if (run == 0) continue;
            copyMs.Add(copyMillis);
            rawMs.Add(rawMillis);
            log($"{Name} run {run}/{runs}: onetimecopy {copyMillis:F0} ms, raw copy {rawMillis:F0} ms");
        }
        var copyMedian = Stats.Median(copyMs);
        var rawMedian = Stats.Median(rawMs);
        var ratio = copyMedian / rawMedian;
        var figures = new JsonObject
        {
            ["rows"] = Rows,
            ["runs"] = runs,
            ["onetimecopy_ms"] = Stats.Round(copyMedian),
            ["raw_copy_ms"] = Stats.Round(rawMedian),
            ["ratio"] = Stats.Round(ratio, 2),
            ["onetimecopy_ms_runs"] = new JsonArray(copyMs.Select(v => (JsonNode?)Stats.Round(v)).ToArray()),
            ["raw_copy_ms_runs"] = new JsonArray(rawMs.Select(v => (JsonNode?)Stats.Round(v)).ToArray()),
        };
        return new ScenarioResult(Name, figures, null, ratio,
        [
            $"onetimecopy {copyMedian:F0} ms for {Rows:N0} rows, raw COPY {rawMedian:F0} ms, ratio {ratio:F2}",
            $"runs: onetimecopy [{string.Join(", ", copyMs.Select(v => v.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)))}] ms, " +
            $"raw [{string.Join(", ", rawMs.Select(v => v.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)))}] ms",
        ]);
    }

    private async Task CheckAsync(string table, CancellationToken ct)
    {
        var rows = await cluster.Target.ScalarAsync<long>(Database, $"SELECT count(*) FROM {table}", ct);
        if (rows != Rows) throw new InvalidOperationException($"{table} holds {rows} rows on the target, expected {Rows}.");
    }
}
