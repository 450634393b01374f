using Npgsql;

namespace Ferry.Benchmarks;

/// <summary>
/// Steady writes spread over many small tables: a fixed number of writer connections, each inserting one row per
/// autocommit transaction into the next table in turn, as fast as the machine lets it. Ids come from one counter, so
/// every row is new and a row's id says it was written after any id seen before.
/// </summary>
public sealed class SpreadWrites(string connectionString, IReadOnlyList<string> tables, int clients)
{
    private long _nextId;
    private long _written;
    private CancellationTokenSource? _stop;
    private Task? _running;

    /// <summary>Rows committed so far.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Inserts one row into each table (the rows that prove every sync replicates); returns when they are committed.</summary>
    public async Task OneEachAsync(CancellationToken ct)
    {
        await using var c = await BenchCluster.OpenAsync(connectionString, ct);
        await using var batch = new NpgsqlBatch(c);
        foreach (var t in tables)
            batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO {t} (id, v) VALUES ({Interlocked.Increment(ref _nextId)}, 'probe')"));
        await batch.ExecuteNonQueryAsync(ct);
        Interlocked.Add(ref _written, tables.Count);
    }

    public async Task StartAsync(CancellationToken ct)
    {
        if (_running is not null) throw new InvalidOperationException("The writers already run.");
        var connections = new List<NpgsqlConnection>();
        for (var i = 0; i < clients; i++) connections.Add(await BenchCluster.OpenAsync(connectionString, ct));
        _stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        _running = Task.WhenAll(connections.Select((c, i) => Task.Run(() => ClientAsync(c, i, _stop.Token), CancellationToken.None)));
    }

    /// <summary>Stops the writers after their current transaction.</summary>
    public async Task StopAsync()
    {
        if (_running is null) return;
        await _stop!.CancelAsync();
        try
        {
            await _running;
        }
        finally
        {
            _stop.Dispose();
            _running = null;
        }
    }

    private async Task ClientAsync(NpgsqlConnection c, int client, CancellationToken stop)
    {
        await using var _ = c;
        var commands = new List<NpgsqlCommand>();
        try
        {
            foreach (var t in tables)
            {
                var cmd = new NpgsqlCommand($"INSERT INTO {t} (id, v) VALUES ($1, 'steady')", c);
                cmd.Parameters.Add(new NpgsqlParameter<long>());
                await cmd.PrepareAsync(stop);
                commands.Add(cmd);
            }
            // Writers start on different tables, so each table sees a write from someone every few milliseconds.
            for (var i = client * tables.Count / clients; !stop.IsCancellationRequested; i++)
            {
                var cmd = commands[i % commands.Count];
                ((NpgsqlParameter<long>)cmd.Parameters[0]).TypedValue = Interlocked.Increment(ref _nextId);
                // Not cancelled mid-statement: a cancelled INSERT may have committed, and the count must stay true.
                await cmd.ExecuteNonQueryAsync(CancellationToken.None);
                Interlocked.Increment(ref _written);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        finally
        {
            foreach (var cmd in commands) await cmd.DisposeAsync();
        }
    }
}
