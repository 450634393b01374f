using System.Diagnostics;
using Npgsql;

namespace Ferry.Benchmarks;

/// <summary>
/// Single-row write transactions from several client connections: half INSERT a new row, half UPDATE an existing
/// one (chosen at random among the preloaded rows). Autocommit, prepared statements, as an application would.
/// </summary>
public sealed class WriteLoad(string connectionString, string table, long preloaded)
{
    private readonly long _preloaded = preloaded;
    private long _nextId = preloaded;

    public static string Preload(string table, long rows) => $"""
        INSERT INTO {table} (id, name, amount, created)
        SELECT g, 'customer ' || g, round((g * 1.37)::numeric, 2), now() FROM generate_series(1, {rows}) AS g
        """;

    /// <summary>Transactions committed by the last <see cref="RunAsync"/>.</summary>
    public long LastTransactions { get; private set; }

    /// <summary>Runs <paramref name="clients"/> connections for <paramref name="duration"/>; returns transactions per second.</summary>
    /// <param name="around">called with the connections open, before the clock starts and after it stops (CPU snapshots)</param>
    public async Task<double> RunAsync(int clients, TimeSpan duration, CancellationToken ct, Func<bool, Task>? around = null)
    {
        var connections = new List<NpgsqlConnection>();
        try
        {
            for (var i = 0; i < clients; i++) connections.Add(await BenchCluster.OpenAsync(connectionString, ct));
            if (around is not null) await around(true);
            var started = Stopwatch.GetTimestamp();
            var counts = await Task.WhenAll(connections.Select((c, i) => ClientAsync(c, i, started, duration, ct)));
            var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (around is not null) await around(false);
            LastTransactions = counts.Sum();
            return counts.Sum() / elapsed;
        }
        finally
        {
            foreach (var c in connections) await c.DisposeAsync();
        }
    }

    private async Task<long> ClientAsync(NpgsqlConnection c, int seed, long started, TimeSpan duration, CancellationToken ct)
    {
        var random = new Random(seed * 7919 + Environment.TickCount);
        await using var insert = new NpgsqlCommand(
            $"INSERT INTO {table} (id, name, amount, created) VALUES ($1, $2, $3, now())", c);
        var insertId = new NpgsqlParameter<long>();
        var insertName = new NpgsqlParameter<string> { TypedValue = "" };
        var insertAmount = new NpgsqlParameter<decimal>();
        insert.Parameters.Add(insertId);
        insert.Parameters.Add(insertName);
        insert.Parameters.Add(insertAmount);
        await insert.PrepareAsync(ct);
        await using var update = new NpgsqlCommand(
            $"UPDATE {table} SET amount = amount + $2, name = $3 WHERE id = $1", c);
        var updateId = new NpgsqlParameter<long>();
        var updateAmount = new NpgsqlParameter<decimal>();
        var updateName = new NpgsqlParameter<string> { TypedValue = "" };
        update.Parameters.Add(updateId);
        update.Parameters.Add(updateAmount);
        update.Parameters.Add(updateName);
        await update.PrepareAsync(ct);

        long done = 0;
        while (Stopwatch.GetElapsedTime(started) < duration)
        {
            if (random.Next(2) == 0)
            {
                insertId.TypedValue = Interlocked.Increment(ref _nextId);
                insertName.TypedValue = "new customer " + insertId.TypedValue;
                insertAmount.TypedValue = random.Next(1, 100_000) / 100m;
                await insert.ExecuteNonQueryAsync(ct);
            }
            else
            {
                updateId.TypedValue = random.NextInt64(1, _preloaded + 1);
                updateAmount.TypedValue = random.Next(1, 1_000) / 100m;
                updateName.TypedValue = "updated customer " + updateId.TypedValue;
                await update.ExecuteNonQueryAsync(ct);
            }
            done++;
        }
        return done;
    }
}
