using System.Text;
using Ferry.Capture;
using Ferry.Tests.Harness;
using Npgsql;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// WAL capture under steady small writes from several connections while the relay replicates: every committed row
/// arrives. The benchmark capture_overhead_wal lost one or two rows in about half its runs, for good, with the slot,
/// the capture and the pair all caught up: a decoded transaction was logged, folded and read while the committing
/// backend was still in the proc array (its commit is flushed, and so decoded, before it leaves), and the pair's read
/// saw the key's entry but not the row.
/// </summary>
[Collection("scenario-servers")]
public sealed class WalSteadyWrites(ServerFixture servers)
{
    private const string Schema = "CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL, w int NOT NULL)";
    private const int Writers = 6;
    private static readonly TimeSpan Writing = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task single_row_writes_from_several_connections_all_arrive()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(single_row_writes_from_several_connections_all_arrive),
            Schema, ["public.items"], capture: "wal");
        await t.OneSourceTwoTargetsAsync();
        await t.Cli.OkAsync("start");

        using var stop = new CancellationTokenSource(Writing);
        var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(() => WriteAsync(t, w, stop.Token))).ToList();
        var written = (await Task.WhenAll(writers)).Sum();
        Assert.True(written > 100, $"only {written} writes in {Writing}");

        var fingerprint = Fingerprint.RowsSql("items");
        try
        {
            await Fingerprint.ConvergedAsync(t, [fingerprint], [0, 1, 2], TimeSpan.FromSeconds(30));
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{written} writes; rows lost under WAL capture:\n{await DiagnoseAsync(t)}\n{e.Message}");
        }
    }

    /// <summary>
    /// The capture's wait before it logs a decoded transaction (WalLogWriter.VisibleSql) against a transaction that
    /// holds the newest xid and has not ended: what a committing backend still in the proc array looks like. It is at
    /// or above the snapshot's xmax, so not in its xip: the wait that looked for it there took it for visible.
    /// </summary>
    [Fact]
    public async Task the_wait_before_logging_does_not_take_the_newest_running_transaction_for_visible()
    {
        await using var running = new NpgsqlConnection(servers[0].AdminConnectionString());
        await running.OpenAsync();
        await using var tx = await running.BeginTransactionAsync();
        long xid;
        await using (var take = new NpgsqlCommand("SELECT pg_current_xact_id()::text::bigint", running, tx))
            xid = (long)(await take.ExecuteScalarAsync())!;
        await using var other = new NpgsqlConnection(servers[0].AdminConnectionString());
        await other.OpenAsync();
        await using var look = new NpgsqlCommand(
            $"SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint <= $2, " +
            $"NOT EXISTS (SELECT FROM pg_snapshot_xip(pg_current_snapshot()) AS x WHERE x::text::bigint % 4294967296 = ANY ($1::bigint[])), " +
            $"({Ferry.Capture.Wal.WalLogWriter.VisibleSql})", other);
        look.Parameters.AddWithValue(new[] { xid % 4294967296 });
        look.Parameters.AddWithValue(xid);
        async Task<(bool AtOrAboveXmax, bool XipSaysVisible, bool Visible)> LookAsync()
        {
            await using var r = await look.ExecuteReaderAsync();
            await r.ReadAsync();
            return (r.GetBoolean(0), r.GetBoolean(1), r.GetBoolean(2));
        }

        var before = await LookAsync();
        Assert.False(before.Visible, $"xid {xid} is running, yet the wait takes it for visible");
        // Other tests share the server: only while no later xid has ended is the running one above xmax.
        if (before.AtOrAboveXmax) Assert.True(before.XipSaysVisible, "the old xip test should have missed it (the gap)");
        await tx.CommitAsync();
        Assert.True((await LookAsync()).Visible, $"xid {xid} committed, yet the wait does not see it");
    }

    /// <summary>Inserts a new row, then updates one of this writer's rows, one statement a transaction, until stopped.</summary>
    private static async Task<int> WriteAsync(Topology t, int writer, CancellationToken stop)
    {
        await using var c = await t.AppAsync(0);
        await using var insert = new NpgsqlCommand("INSERT INTO items VALUES ($1, 0, $2)", c);
        await using var update = new NpgsqlCommand("UPDATE items SET n = n + 1 WHERE id = $1", c);
        var random = new Random(writer);
        var count = 0;
        while (!stop.IsCancellationRequested)
        {
            var id = writer * 1_000_000 + count;
            insert.Parameters.Clear();
            insert.Parameters.AddWithValue(id);
            insert.Parameters.AddWithValue(writer);
            await insert.ExecuteNonQueryAsync(CancellationToken.None);
            update.Parameters.Clear();
            update.Parameters.AddWithValue(writer * 1_000_000 + random.Next(count + 1));
            await update.ExecuteNonQueryAsync(CancellationToken.None);
            count++;
        }
        return count * 2;
    }

    /// <summary>The rows that differ, their row versions on the source, every pair's position and the capture's.</summary>
    private async Task<string> DiagnoseAsync(Topology t)
    {
        var text = new StringBuilder();
        var source = await RowsAsync(t, 0);
        for (var s = 1; s < 3; s++)
        {
            var target = await RowsAsync(t, s);
            var differ = source.Where(r => !target.TryGetValue(r.Key, out var v) || v != r.Value).Select(r => r.Key)
                .Concat(target.Keys.Where(k => !source.ContainsKey(k))).Take(20).ToList();
            text.AppendLine($"db{s + 1}: {target.Count} rows of {source.Count}; differ: {string.Join(", ", differ.Select(k =>
                $"{k} (source {(source.TryGetValue(k, out var v) ? v : "none")}, target {(target.TryGetValue(k, out var w) ? w : "none")})"))}");
            if (differ.Count > 0)
                text.AppendLine("  source row versions (id, version, xid): " + await servers[0].ScalarAsync<string>(t.Database,
                    $"SELECT string_agg(format('%s %s %s', id, ferry_version, ferry_xid), '; ') FROM {new CaptureNames(new TableName("public", "items")).RowVersions} " +
                    $"WHERE id = ANY (ARRAY[{string.Join(",", differ)}])", default));
            text.AppendLine("  progress: " + await servers[s].ScalarAsync<string>(t.Database,
                "SELECT string_agg(format('%s applied_through %s chunk_to %s', source_name, applied_through, chunk_to), '; ') FROM ferry.progress", default));
        }
        text.AppendLine("capture: " + await servers[0].ScalarAsync<string>(t.Database,
            "SELECT format('wal_position %s; slot confirmed %s; current snapshot %s; log entries %s', " +
            "(SELECT string_agg(commit_lsn::text, ',') FROM ferry.wal_position), " +
            "(SELECT string_agg(confirmed_flush_lsn::text, ',') FROM pg_replication_slots WHERE database = current_database()), " +
            $"pg_current_snapshot(), (SELECT count(*) FROM {new CaptureNames(new TableName("public", "items")).Log}))", default));
        return text.ToString();
    }

    private async Task<Dictionary<int, string>> RowsAsync(Topology t, int server)
    {
        await using var c = new NpgsqlConnection(t.Servers[server].AdminConnectionString(t.Database));
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT id, n FROM items", c);
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new Dictionary<int, string>();
        while (await r.ReadAsync()) rows[r.GetInt32(0)] = r.GetInt32(1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return rows;
    }
}
