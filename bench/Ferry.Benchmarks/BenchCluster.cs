using Ferry.Local;
using Npgsql;

namespace Ferry.Benchmarks;

/// <summary>Two throwaway PostgreSQL servers, a source and a target; each scenario gets its own database on both.</summary>
public sealed class BenchCluster : IAsyncDisposable
{
    private BenchCluster(LocalServer source, LocalServer target)
    {
        Source = source;
        Target = target;
    }

    public LocalServer Source { get; }

    public LocalServer Target { get; }

    public static async Task<BenchCluster> StartAsync(CancellationToken ct)
    {
        var starting = new[] { LocalServer.StartAsync("bench-source", ct), LocalServer.StartAsync("bench-target", ct) };
        try
        {
            await Task.WhenAll(starting);
        }
        catch
        {
            foreach (var t in starting.Where(t => t.IsCompletedSuccessfully)) await t.Result.DisposeAsync();
            throw;
        }
        var cluster = new BenchCluster(starting[0].Result, starting[1].Result);
        try
        {
            await BenchRoles.CreateAsync(cluster.Source, ct);
            await BenchRoles.CreateAsync(cluster.Target, ct);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>The same fresh database on both servers, with the same tables, owned and granted as invariant 1 says.</summary>
    /// <summary>
    /// Commits as production makes them (fsync and synchronous_commit on) on both servers, or back to the throwaway
    /// setting, reloaded at once.
    /// </summary>
    public async Task SetDurabilityAsync(bool on, CancellationToken ct)
    {
        var value = on ? "on" : "off";
        foreach (var server in new[] { Source, Target })
        {
            await server.ExecuteAsync("postgres", $"ALTER SYSTEM SET fsync = {value}", ct);
            await server.ExecuteAsync("postgres", $"ALTER SYSTEM SET synchronous_commit = {value}", ct);
            await server.ExecuteAsync("postgres", "SELECT pg_reload_conf()", ct);
        }
    }

    public async Task CreateDatabaseAsync(string database, string ddl, IReadOnlyList<string> tables, CancellationToken ct)
    {
        foreach (var server in new[] { Source, Target })
        {
            await BenchRoles.CreateDatabaseAsync(server, database, ct);
            await BenchRoles.CreateTablesAsync(server, database, ddl, tables, ct);
        }
    }

    /// <summary>
    /// The floor for moving rows: a binary COPY out of the source's <paramref name="from"/> piped straight into a COPY
    /// into the target's <paramref name="to"/>, as the replication role (columns id, name, amount, created); returns
    /// the milliseconds it took.
    /// </summary>
    public async Task<double> RawCopyAsync(string database, string from, string to, CancellationToken ct)
    {
        await using var source = await OpenAsync(BenchRoles.FerryConnectionString(Source, database), ct);
        await using var target = await OpenAsync(BenchRoles.FerryConnectionString(Target, database), ct);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        await using (var output = await source.BeginRawBinaryCopyAsync(
            $"COPY (SELECT id, name, amount, created FROM {from}) TO STDOUT (FORMAT binary)", ct))
        await using (var input = await target.BeginRawBinaryCopyAsync(
            $"COPY {to} (id, name, amount, created) FROM STDIN (FORMAT binary)", ct))
        {
            await output.CopyToAsync(input, 128 * 1024, ct);
        }
        return Stats.Millis(started, System.Diagnostics.Stopwatch.GetTimestamp());
    }

    /// <summary>Between measured runs: vacuum and checkpoint both servers, so no run pays for another's leftovers.</summary>
    public async Task SettleAsync(string database, CancellationToken ct)
    {
        foreach (var server in new[] { Source, Target })
        {
            await server.ExecuteAsync(database, "VACUUM (ANALYZE)", ct);
            await server.ExecuteAsync(database, "CHECKPOINT", ct);
        }
        await Task.Delay(200, ct);
    }

    public async Task<string> ServerVersionAsync(CancellationToken ct) =>
        await Source.ScalarAsync<string>("postgres", "SHOW server_version", ct) ?? "unknown";

    /// <summary>A connection as the application's writer role (no rights on schema ferry).</summary>
    public static async Task<NpgsqlConnection> OpenAsync(string connectionString, CancellationToken ct)
    {
        var c = new NpgsqlConnection(connectionString);
        await c.OpenAsync(ct);
        return c;
    }

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(Source.DisposeAsync().AsTask(), Target.DisposeAsync().AsTask());
    }
}
