using System.Diagnostics;
using System.Text.Json.Nodes;
using Npgsql;

namespace Ferry.Benchmarks;

/// <summary>
/// <c>apply_updates</c>: an application's 100,000-row UPDATE, then its DELETE of the same rows, each from COMMIT
/// returning on the source to the target showing all of it, with the relay running; to a second master (which
/// keeps row versions, decides each row and is captured itself) and to a replica, against a raw binary COPY of the
/// same rows from source to target in the same run (the floor for moving them), and against a raw update: the same
/// COPY into a temporary table on the target plus one <c>UPDATE … FROM</c> it by key (or <c>DELETE … USING</c> it),
/// the floor for any apply that changes rows in place. The rows were inserted and replicated before; each run uses
/// fresh tables.
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
        // FERRY_BENCH_STATEMENT_LOG=DIR: every statement of ferry's role logged with its duration on both servers, the
        // logs copied to DIR at the end, to see where an apply's time goes.
        var statementLog = Environment.GetEnvironmentVariable("FERRY_BENCH_STATEMENT_LOG");
        if (!string.IsNullOrEmpty(statementLog))
            foreach (var server in new[] { cluster.Source, cluster.Target })
                await server.ExecuteAsync("postgres", $"ALTER ROLE {BenchRoles.Ferry} SET log_min_duration_statement = 0", ct);
        var summary = new List<string>();
        var worst = 0.0;
        foreach (var (kind, role) in new[] { ("master", Role.Source), ("replica", Role.Target) })
        {
            var m = await MeasureAsync(kind, role, ct);
            var updateRatio = m.Update / m.RawCopy;
            var deleteRatio = m.Delete / m.RawCopy;
            worst = Math.Max(worst, Math.Max(updateRatio, deleteRatio));
            figures[$"{kind}_update_ms"] = Stats.Round(m.Update);
            figures[$"{kind}_delete_ms"] = Stats.Round(m.Delete);
            figures[$"{kind}_raw_copy_ms"] = Stats.Round(m.RawCopy);
            figures[$"{kind}_raw_update_ms"] = Stats.Round(m.RawUpdate);
            figures[$"{kind}_raw_delete_ms"] = Stats.Round(m.RawDelete);
            // The first two keep their old names (update_ratio, delete_ratio) for comparison with earlier runs.
            figures[$"{kind}_update_ratio"] = Stats.Round(updateRatio, 2);
            figures[$"{kind}_delete_ratio"] = Stats.Round(deleteRatio, 2);
            figures[$"{kind}_update_ratio_raw_copy"] = Stats.Round(updateRatio, 2);
            figures[$"{kind}_delete_ratio_raw_copy"] = Stats.Round(deleteRatio, 2);
            figures[$"{kind}_update_ratio_raw_update"] = Stats.Round(m.Update / m.RawUpdate, 2);
            figures[$"{kind}_delete_ratio_raw_update"] = Stats.Round(m.Delete / m.RawDelete, 2);
            summary.Add($"to a {kind}: {Rows:N0} updated rows {m.Update:F0} ms, deleted {m.Delete:F0} ms; raw COPY {m.RawCopy:F0} ms, " +
                        $"raw update {m.RawUpdate:F0} ms, raw delete {m.RawDelete:F0} ms; ratio_raw_copy {updateRatio:F2} and " +
                        $"{deleteRatio:F2} (target <= 2; updates <= 1500 ms), ratio_raw_update {m.Update / m.RawUpdate:F2} and " +
                        $"{m.Delete / m.RawDelete:F2}");
        }
        if (!string.IsNullOrEmpty(statementLog))
        {
            Directory.CreateDirectory(statementLog);
            File.Copy(Path.Combine(cluster.Source.DataDirectory, "server.log"), Path.Combine(statementLog, "source.log"), true);
            File.Copy(Path.Combine(cluster.Target.DataDirectory, "server.log"), Path.Combine(statementLog, "target.log"), true);
        }
        return new ScenarioResult(Name, figures, new Target("worst_ratio", "<=", 2), worst, summary);
    }

    private sealed record Measured(double Update, double Delete, double RawCopy, double RawUpdate, double RawDelete);

    private async Task<Measured> MeasureAsync(string kind, Role role, CancellationToken ct)
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
        var rawUpdates = new List<double>();
        var rawDeletes = new List<double>();
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
            // raw_{run} now holds the 100k rows: update them in place with the same new images.
            var rawUpdate = await RawChangeAsync(database, table, $"raw_{run}", delete: false, ct);
            await cluster.SettleAsync(database, ct);
            var delete = await ChangeAsync(ferry, database, table, $"DELETE FROM {table}",
                $"SELECT NOT EXISTS (SELECT FROM {table} WHERE id = {Rows})", $"SELECT {Rows} - count(*) FROM {table}", ct);
            await cluster.SettleAsync(database, ct);
            // The source's rows are gone now: a delete needs only their keys, and raw_{run} on the target has them all.
            var rawDelete = await RawChangeAsync(database, $"generate_series(1::bigint, {Rows}) AS g (id)", $"raw_{run}", delete: true, ct);
            if (run == 0) continue;
            updates.Add(update);
            deletes.Add(delete);
            raws.Add(raw);
            rawUpdates.Add(rawUpdate);
            rawDeletes.Add(rawDelete);
            log($"{Name} to a {kind}, run {run}/{runs}: update {update:F0} ms, delete {delete:F0} ms, raw copy {raw:F0} ms, " +
                $"raw update {rawUpdate:F0} ms, raw delete {rawDelete:F0} ms");
        }
        await ferry.StopAsync(ct);
        return new Measured(Stats.Median(updates), Stats.Median(deletes), Stats.Median(raws), Stats.Median(rawUpdates),
            Stats.Median(rawDeletes));
    }

    /// <summary>
    /// The floor for changing rows in place: a binary COPY of the new row images (for a delete, of the keys) from the
    /// source's <paramref name="from"/> (a table, or for a delete the keys' series) into a temporary table on the target, then one <c>UPDATE … FROM</c> (or
    /// <c>DELETE … USING</c>) of the target's <paramref name="to"/> by key, as the replication role in one
    /// transaction; the milliseconds from the COPY's start to COMMIT returning.
    /// </summary>
    private async Task<double> RawChangeAsync(string database, string from, string to, bool delete, CancellationToken ct)
    {
        await using var source = await BenchCluster.OpenAsync(BenchRoles.FerryConnectionString(cluster.Source, database), ct);
        await using var target = await BenchCluster.OpenAsync(BenchRoles.FerryConnectionString(cluster.Target, database), ct);
        await using (var create = new NpgsqlCommand(
            "CREATE TEMP TABLE raw_in (id bigint, name text, amount numeric, created timestamptz)", target))
            await create.ExecuteNonQueryAsync(ct);
        var columns = delete ? "id" : "id, name, amount, created";
        var started = Stopwatch.GetTimestamp();
        await using var tx = await target.BeginTransactionAsync(ct);
        await using (var output = await source.BeginRawBinaryCopyAsync(
            $"COPY (SELECT {columns} FROM {from}) TO STDOUT (FORMAT binary)", ct))
        await using (var input = await target.BeginRawBinaryCopyAsync($"COPY raw_in ({columns}) FROM STDIN (FORMAT binary)", ct))
        {
            await output.CopyToAsync(input, 128 * 1024, ct);
        }
        var change = delete
            ? $"DELETE FROM {to} AS t USING raw_in AS i WHERE t.id = i.id"
            : $"UPDATE {to} AS t SET name = i.name, amount = i.amount, created = i.created FROM raw_in AS i WHERE t.id = i.id";
        await using (var statement = new NpgsqlCommand(change, target, tx) { CommandTimeout = 600 })
            if (await statement.ExecuteNonQueryAsync(ct) != Rows)
                throw new InvalidOperationException($"the raw {(delete ? "delete" : "update")} of {to} did not change {Rows} rows");
        await tx.CommitAsync(ct);
        return Stats.Millis(started, Stopwatch.GetTimestamp());
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
