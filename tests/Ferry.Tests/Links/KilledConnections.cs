using System.Diagnostics;
using Ferry.Local;
using Ferry.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Ferry.Tests.Links;

/// <summary>
/// A connection killed while a large chunk streams from the source into the target's COPY (pg_terminate_backend,
/// as an operator or a failover does): whichever end lost its backend, that is a link failure of that database,
/// retried at once, not a data error that waits out the longest backoff (30 s) or holds the table. The target
/// reports a COPY cut off by the source as 22P04 (unexpected EOF in COPY data); that must not hide which end failed.
/// </summary>
[Collection("servers")]
public sealed class KilledConnections(ServerFixture servers, ITestOutputHelper output)
{
    private const int Rows = 50_000;

    /// <summary>Well below the 30 s backoff an SQL error waits; the resent chunk and a loaded machine fit in it.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(0, "ferry read ", "trigger")]
    [InlineData(1, "ferry apply ", "trigger")]
    // The source's end under WAL capture: the reset also cuts the relay's replication connection through the link.
    [InlineData(0, "ferry read ", "wal")]
    public async Task a_connection_killed_or_reset_mid_copy_is_a_link_failure_of_its_end_and_the_pair_converges_within_seconds(
        int end, string applicationName, string capture)
    {
        await using var link = FaultProxy.Start(servers[end], TimeSpan.FromMinutes(5));
        await using var t = await Topology.CreateAsync(servers, $"{nameof(KilledConnections)}_{end}", ResetsDuringBacklog.Schema, ["public.bulk"],
            capture: capture);
        await t.AddDatabasesAsync(new Dictionary<int, FaultProxy> { [end] = link }, count: 2);
        // Two masters: db2 keeps row versions, so the chunk lands in a temporary table and is decided there, the
        // way where a COPY cut off at its source held the table (22P04 is a data error's class) for 30 s.
        await t.Cli.OkAsync("add", "sync", "s", "tables=bulk", "dbs=db1:source,db2:source");
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO bulk VALUES (0, 'first', 0)");
        await Eventually.UntilAsync(() => t.ScalarAsync<long>(1, "SELECT count(*) FROM bulk"), n => n == 1,
            TimeSpan.FromSeconds(30), "the pair to connect and carry a first row");

        // The server ends the backend (57P01), then the network resets the connection: one chunk of 50,000 rows each.
        var killed = await CutMidCopyAsync(t, link, end, applicationName, 1, async pid =>
            Assert.True(await servers[end].ScalarAsync<bool>(t.Database, $"SELECT pg_terminate_backend({pid})", default)));
        var reset = await CutMidCopyAsync(t, link, end, applicationName, 1 + Rows, _ => Task.FromResult(link.ResetAll()));

        var failures = t.LogLines("Pair s:db1->db2 failed:");
        output.WriteLine($"db{end + 1}: every row on the target {killed.TotalSeconds:F2} s after its backend was terminated, " +
                         $"{reset.TotalSeconds:F2} s after its connection was reset\n" + string.Join('\n', t.LogLines("Pair ")));
        Assert.True(killed < Bound, $"converged {killed.TotalSeconds:F1} s after the kill (bound {Bound.TotalSeconds} s)");
        Assert.True(reset < Bound, $"converged {reset.TotalSeconds:F1} s after the reset (bound {Bound.TotalSeconds} s)");
        // Each failure named the end that failed, as a lost link, and held no table.
        Assert.Equal(2, failures.Count);
        Assert.All(failures, f => Assert.Contains($"Lost the link to db{end + 1} ", f, StringComparison.Ordinal));
        // The reset also cut the other pair's connections to that database: the same kind of failure there.
        Assert.All(t.LogLines("failed:"), f => Assert.Contains($"Lost the link to db{end + 1} ", f, StringComparison.Ordinal));
        Assert.All(t.LogLines("failed:"), f => Assert.DoesNotContain("SQLSTATE", f, StringComparison.Ordinal));
        using (var store = await Ferry.ControlStore.Store.OpenAsync(Path.Combine(t.Cli.Home, "ferry.db"), default))
            Assert.Empty(await store.ListHeldTablesAsync(default));
        // The reset also cut the other pair's link to that database: it reconnects at once, but may be between tries.
        await Eventually.UntilAsync(async () => (await t.PairStatusAsync()).All(p => p.State == "replicating"),
            TimeSpan.FromSeconds(20), "every pair replicating again");
    }

    /// <summary>Writes a chunk's worth of rows, cuts the relay's connection on one end while it COPYs them, and returns
    /// how long after the cut the target held every row.</summary>
    private async Task<TimeSpan> CutMidCopyAsync(Topology t, FaultProxy link, int end, string applicationName, int firstId,
        Func<int, Task> cut)
    {
        // Slowed (7.5 MB at 4 MB/s) so the COPY is surely caught streaming; full speed again for the retry.
        link.BandwidthBytesPerSecond = 4_000_000;
        await t.ExecAsync(0, $"INSERT INTO bulk SELECT i, repeat(md5(i::text), 4), i * 7 FROM generate_series({firstId}, {firstId + Rows - 1}) i");
        var expected = await t.ScalarAsync<string>(0, ResetsDuringBacklog.Content);
        int? pid;
        try
        {
            // The source's backend may have written its whole COPY into the socket buffers and the proxy while the
            // slowed link still carries it: it is then idle in its read transaction, which the chunk still needs.
            pid = await Eventually.UntilAsync(() => servers[end].ScalarAsync<int?>(t.Database,
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state IN ('active', 'idle in transaction') " +
                    $"AND application_name LIKE '{applicationName}%' AND query ILIKE 'COPY%' LIMIT 1", default),
                p => p is not null, TimeSpan.FromSeconds(60), $"a COPY of the relay's on db{end + 1}");
        }
        catch (TimeoutException)
        {
            // Seen only in full runs beside the other collection: say what the relay's sessions were doing and what it logged.
            output.WriteLine(await servers[end].ScalarAsync<string>(t.Database,
                "SELECT string_agg(application_name || ' | ' || state || ' | ' || left(query, 80), E'\n') FROM pg_stat_activity " +
                "WHERE datname = current_database()", default));
            output.WriteLine(string.Join('\n', t.LogLines("")));
            throw;
        }
        await cut(pid!.Value);
        link.BandwidthBytesPerSecond = 0;
        var clock = Stopwatch.StartNew();
        await Eventually.UntilAsync(() => t.ScalarAsync<string>(1, ResetsDuringBacklog.Content), v => v == expected,
            Bound + TimeSpan.FromSeconds(30), "the target to hold every row");
        return clock.Elapsed;
    }
}
