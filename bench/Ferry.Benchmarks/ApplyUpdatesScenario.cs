using System.Diagnostics;
using System.Text.Json.Nodes;
using Npgsql;

namespace Ferry.Benchmarks;

/// <summary>
/// <c>apply_updates</c>: an application's 100,000-row UPDATE, then its DELETE of the same rows, each from COMMIT
/// returning on the source to the target showing all of it, with the relay running; to a second master (which
/// keeps row versions, decides each row and is captured itself) and to a replica, against a raw binary COPY of the
/// same rows from source to target in the same run (the floor for moving them). The rows were inserted and
/// replicated before; each run uses fresh tables.
/// </summary>
public sealed class ApplyUpdatesScenario(BenchCluster cluster, int runs, Action<string> log)
{
    public const string Name = "apply_updates";
    private const int Rows = 100_000;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);

    private static string Ddl(string table) =>
        $"CREATE TABLE {table} (id bigint PRIMARY KEY, name text, amount numeric, created timestamptz)";

    public async Task<ScenarioResult> RunAsync(CancellationToken ct)
    {
        var figures = new JsonObject { ["rows"] = Rows, ["runs"] = runs };
        var summary = new List<string>();
        var worst = 0.0;
        foreach (var (kind, role) in new[] { ("master", Role.Source), ("replica", Role.Target) })
        {
            var (update, delete, raw) = await MeasureAsync(kind, role, ct);
            var updateRatio = update / raw;
            var deleteRatio = delete / raw;
            worst = Math.Max(worst, Math.Max(updateRatio, deleteRatio));
            figures[$"{kind}_update_ms"] = Stats.Round(update);
            figures[$"{kind}_delete_ms"] = Stats.Round(delete);
            figures[$"{kind}_raw_copy_ms"] = Stats.Round(raw);
            figures[$"{kind}_update_ratio"] = Stats.Round(updateRatio, 2);
            figures[$"{kind}_delete_ratio"] = Stats.Round(deleteRatio, 2);
            summary.Add($"to a {kind}: {Rows:N0} updated rows {update:F0} ms, deleted {delete:F0} ms, raw COPY {raw:F0} ms; " +
                        $"ratios {updateRatio:F2} and {deleteRatio:F2} (target <= 2; updates <= 1500 ms)");
        }
        return new ScenarioResult(Name, figures, new Target("worst_ratio", "<=", 2), worst, summary);
    }

    private async Task<(double Update, double Delete, double Raw)> MeasureAsync(string kind, Role role, CancellationToken ct)
    {
        var database = $"bench_apply_{kind}";
        // Run 0 warms every path up; runs 1..n are measured.
        var replicated = Enumerable.Range(0, runs + 1).Select(i => $"upd_{i}").ToList();
        var rawTargets = Enumerable.Range(0, runs + 1).Select(i => $"raw_{i}").ToList();
        var all = replicated.Concat(rawTargets).ToList();
        await cluster.CreateDatabaseAsync(database, string.Join("; ", all.Select(Ddl)), all, ct);
        await using var ferry = await RelayHarness.CreateAsync(cluster.Source, cluster.Target, database, replicated, role, ct);
        await ferry.StartAsync(ct);
        var updates = new List<double>();
        var deletes = new List<double>();
        var raws = new List<double>();
        for (var run = 0; run <= runs; run++)
        {
            var table = $"upd_{run}";
            await ChangeAsync(ferry, database, table, $"""
                INSERT INTO {table} (id, name, amount, created)
                SELECT g, 'customer ' || g, round((g * 1.37)::numeric, 2), now() - g * interval '1 second'
                FROM generate_series(1, {Rows}) AS g
                """, $"SELECT EXISTS (SELECT FROM {table} WHERE id = {Rows})", $"SELECT count(*) FROM {table}", ct);
            await cluster.SettleAsync(database, ct);
            var update = await ChangeAsync(ferry, database, table, $"UPDATE {table} SET amount = amount + 1, name = name || '!'",
                $"SELECT EXISTS (SELECT FROM {table} WHERE id = {Rows} AND name LIKE '%!')",
                $"SELECT count(*) FROM {table} WHERE name LIKE '%!'", ct);
            await cluster.SettleAsync(database, ct);
            var raw = await cluster.RawCopyAsync(database, table, $"raw_{run}", ct);
            await cluster.SettleAsync(database, ct);
            var delete = await ChangeAsync(ferry, database, table, $"DELETE FROM {table}",
                $"SELECT NOT EXISTS (SELECT FROM {table} WHERE id = {Rows})", $"SELECT {Rows} - count(*) FROM {table}", ct);
            if (run == 0) continue;
            updates.Add(update);
            deletes.Add(delete);
            raws.Add(raw);
            log($"{Name} to a {kind}, run {run}/{runs}: update {update:F0} ms, delete {delete:F0} ms, raw copy {raw:F0} ms");
        }
        await ferry.StopAsync(ct);
        return (Stats.Median(updates), Stats.Median(deletes), Stats.Median(raws));
    }

    /// <summary>
    /// Runs the statement on the source as the application; times COMMIT returning → the target's
    /// <paramref name="done"/> count reaching all the rows. Polls every 10 ms; counting 100,000 rows costs ~10 ms of a
    /// core, which would starve the relay on 2 cores, so each poll first asks <paramref name="probe"/> (one index
    /// lookup: the highest key changed) and counts only once it says yes.
    /// </summary>
    private async Task<double> ChangeAsync(RelayHarness ferry, string database, string table, string sql, string probe,
        string done, CancellationToken ct)
    {
        await using var source = await BenchCluster.OpenAsync(BenchRoles.WriterConnectionString(cluster.Source, database), ct);
        await using var target = await BenchCluster.OpenAsync(BenchRoles.WriterConnectionString(cluster.Target, database), ct);
        await using (var noParallel = new NpgsqlCommand("SET max_parallel_workers_per_gather = 0", target))
            await noParallel.ExecuteNonQueryAsync(ct);
        await using var probing = new NpgsqlCommand(probe, target);
        await probing.PrepareAsync(ct);
        await using var count = new NpgsqlCommand(done, target);
        await count.PrepareAsync(ct);
        await using (var tx = await source.BeginTransactionAsync(ct))
        {
            await using var statement = new NpgsqlCommand(sql, source, tx) { CommandTimeout = 600 };
            await statement.ExecuteNonQueryAsync(ct);
            await tx.CommitAsync(ct);
        }
        var committed = Stopwatch.GetTimestamp();
        while (true)
        {
            if ((bool)(await probing.ExecuteScalarAsync(ct))! && (long)(await count.ExecuteScalarAsync(ct))! >= Rows) return Stats.Millis(committed, Stopwatch.GetTimestamp());
            if (Stopwatch.GetElapsedTime(committed) > Timeout)
                throw new TimeoutException($"{table} on the target did not show the change in {Timeout.TotalSeconds} s. " +
                                           $"Pair error: {ferry.PairError() ?? "none"}");
            await Task.Delay(10, ct);
        }
    }
}
