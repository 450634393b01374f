using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Npgsql;

namespace Ferry.Benchmarks;

/// <summary>
/// <c>bulk_statements</c>: what capture adds to the application's own bulk statements. A 100,000-row UPDATE, then a
/// DELETE of the same rows, each in its own transaction as the application's writer role, on three identical tables
/// of the source loaded alike: one captured by ferry, one with Bucardo 5.6's capture (<see cref="BucardoDdl"/>), one
/// with no trigger. Each run uses fresh tables; the three are timed in a rotating order, so no method always goes
/// first on a cold cache. The relay does not run: this is the statement's own cost; the fold of what it logged comes
/// later, on the relay's time (apply_updates measures the way to the target).
/// </summary>
public sealed class BulkStatementsScenario(BenchCluster cluster, int runs, Action<string> log)
{
    public const string Name = "bulk_statements";
    private const string Database = "bench_bulk_statements";
    private const int Rows = 100_000;
    private static readonly string[] Methods = ["ferry", "bucardo", "plain"];

    private static string Table(string method, int run) => $"bs_{method}_{run}";

    private static string Ddl(string table) =>
        $"CREATE TABLE {table} (id bigint PRIMARY KEY, name text, amount numeric, created timestamptz)";

    /// <summary>
    /// Bucardo 5.6's capture of one table, as its <c>bucardo add table</c> installs it: a row-level AFTER trigger whose
    /// PL/pgSQL function inserts the primary key (OLD's too when it changed, OLD's on delete) into a plain delta table
    /// with a txntime defaulting to now(), indexed on txntime; and a statement-level trigger that records the
    /// statement in a track table. Made by the superuser, as Bucardo needs one; the functions run as their owner.
    /// </summary>
    private static string BucardoDdl(string table) => $"""
        CREATE SCHEMA IF NOT EXISTS bucardo;
        CREATE TABLE bucardo.delta_public_{table} (id bigint NOT NULL, txntime timestamptz NOT NULL DEFAULT now());
        CREATE INDEX dex1_{table} ON bucardo.delta_public_{table} (txntime);
        CREATE TABLE bucardo.track_public_{table} (txntime timestamptz, target text);
        CREATE FUNCTION bucardo.delta_public_{table}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER VOLATILE AS $$
        BEGIN
            IF (TG_OP = 'INSERT') THEN
                INSERT INTO bucardo.delta_public_{table} VALUES (NEW.id);
            ELSIF (TG_OP = 'UPDATE') THEN
                INSERT INTO bucardo.delta_public_{table} VALUES (OLD.id);
                IF (OLD.id <> NEW.id) THEN
                    INSERT INTO bucardo.delta_public_{table} VALUES (NEW.id);
                END IF;
            ELSE
                INSERT INTO bucardo.delta_public_{table} VALUES (OLD.id);
            END IF;
            RETURN NULL;
        END;
        $$;
        CREATE FUNCTION bucardo.track_public_{table}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER VOLATILE AS $$
        BEGIN
            INSERT INTO bucardo.track_public_{table} VALUES (now(), 'dbgroup');
            RETURN NULL;
        END;
        $$;
        CREATE TRIGGER bucardo_delta AFTER INSERT OR UPDATE OR DELETE ON public.{table}
            FOR EACH ROW EXECUTE PROCEDURE bucardo.delta_public_{table}();
        CREATE TRIGGER bucardo_kick AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON public.{table}
            FOR EACH STATEMENT EXECUTE PROCEDURE bucardo.track_public_{table}();
        """;

    public async Task<ScenarioResult> RunAsync(CancellationToken ct)
    {
        // Run 0 warms every path up (JIT, catalog and plan caches); runs 1..n are measured.
        var all = Enumerable.Range(0, runs + 1).SelectMany(r => Methods.Select(m => Table(m, r))).ToList();
        await cluster.CreateDatabaseAsync(Database, string.Join("; ", all.Select(Ddl)), all, ct);
        var captured = Enumerable.Range(0, runs + 1).Select(r => Table("ferry", r)).ToList();
        await using var ferry = await RelayHarness.CreateAsync(cluster.Source, cluster.Target, Database, captured, ct);
        foreach (var r in Enumerable.Range(0, runs + 1))
            await cluster.Source.ExecuteAsync(Database, BucardoDdl(Table("bucardo", r)), ct);

        var times = Methods.ToDictionary(m => m, _ => (Update: new List<double>(), Delete: new List<double>()));
        for (var run = 0; run <= runs; run++)
        {
            // The rows go in before the measured statements: ferry's entries then exist, as for rows replicated a while.
            foreach (var m in Methods)
                await cluster.Source.ExecuteAsync(Database, $"""
                    INSERT INTO {Table(m, run)} (id, name, amount, created)
                    SELECT g, 'customer ' || g, round((g * 1.37)::numeric, 2), now() - g * interval '1 second'
                    FROM generate_series(1, {Rows}) AS g
                    """, ct);
            await cluster.SettleAsync(Database, ct);
            var order = Methods.Skip(run % Methods.Length).Concat(Methods.Take(run % Methods.Length)).ToList();
            foreach (var m in order)
            {
                var ms = await TimeAsync($"UPDATE {Table(m, run)} SET amount = amount + 1, name = name || '!'", ct);
                if (run > 0) times[m].Update.Add(ms);
            }
            await cluster.SettleAsync(Database, ct);
            foreach (var m in order)
            {
                var ms = await TimeAsync($"DELETE FROM {Table(m, run)}", ct);
                if (run > 0) times[m].Delete.Add(ms);
            }
            if (run > 0)
                log($"{Name} run {run}/{runs}: UPDATE " + string.Join(", ", Methods.Select(m => $"{m} {times[m].Update[^1]:F0} ms")) +
                    "; DELETE " + string.Join(", ", Methods.Select(m => $"{m} {times[m].Delete[^1]:F0} ms")));
        }

        var figures = new JsonObject { ["rows"] = Rows, ["runs"] = runs };
        var summary = new List<string>();
        double updateVsBucardo = 0;
        foreach (var (statement, pick) in new (string, Func<(List<double> Update, List<double> Delete), List<double>>)[]
                     { ("update", t => t.Update), ("delete", t => t.Delete) })
        {
            var median = Methods.ToDictionary(m => m, m => Stats.Median(pick(times[m])));
            foreach (var m in Methods)
            {
                figures[$"{statement}_{m}_ms"] = Stats.Round(median[m]);
                figures[$"{statement}_{m}_ms_runs"] = new JsonArray(pick(times[m]).Select(v => (JsonNode?)Stats.Round(v)).ToArray());
            }
            var vsBucardo = median["ferry"] / median["bucardo"];
            var vsPlain = median["ferry"] / median["plain"];
            figures[$"{statement}_ferry_vs_bucardo"] = Stats.Round(vsBucardo, 2);
            figures[$"{statement}_ferry_vs_plain"] = Stats.Round(vsPlain, 2);
            figures[$"{statement}_bucardo_vs_plain"] = Stats.Round(median["bucardo"] / median["plain"], 2);
            if (statement == "update") updateVsBucardo = vsBucardo;
            summary.Add($"{Rows:N0}-row {statement.ToUpperInvariant()}: ferry {median["ferry"]:F0} ms, Bucardo-style " +
                        $"{median["bucardo"]:F0} ms, no trigger {median["plain"]:F0} ms; ferry/Bucardo {vsBucardo:F2} " +
                        $"(target <= 1.0), ferry/no trigger {vsPlain:F2} (target <= 1.5 for UPDATE)");
        }
        figures["update_target_vs_plain"] = 1.5;
        return new ScenarioResult(Name, figures, new Target("update_ferry_vs_bucardo", "<=", 1.0), updateVsBucardo, summary);
    }

    /// <summary>One statement in its own transaction as the application, BEGIN to COMMIT returning.</summary>
    private async Task<double> TimeAsync(string sql, CancellationToken ct)
    {
        await using var c = await BenchCluster.OpenAsync(BenchRoles.WriterConnectionString(cluster.Source, Database), ct);
        await using (var noParallel = new NpgsqlCommand("SET max_parallel_workers_per_gather = 0", c))
            await noParallel.ExecuteNonQueryAsync(ct);
        var began = Stopwatch.GetTimestamp();
        await using (var tx = await c.BeginTransactionAsync(ct))
        {
            await using var statement = new NpgsqlCommand(sql, c, tx) { CommandTimeout = 600 };
            var rows = await statement.ExecuteNonQueryAsync(ct);
            if (rows != Rows)
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"'{sql}' changed {rows} rows, expected {Rows}."));
            await tx.CommitAsync(ct);
        }
        return Stats.Millis(began, Stopwatch.GetTimestamp());
    }
}
