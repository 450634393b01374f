using Ferry.Tests.Harness;
using Npgsql;
using Xunit;

namespace Ferry.Tests.Relay;

/// <summary>
/// The doorbell (Capture/Doorbell.cs): writes ring the relay only while its pairs wait, so most writes under load do
/// not NOTIFY. With the poll interval set far beyond the test's deadline, every row arriving in time shows that no
/// write that went unrung was left for the poll to find: not the ones made while the pairs were busy, and not one
/// made by a long transaction that held the doorbell through several attempts to arm it.
/// </summary>
[Collection("scenario-servers")]
public sealed class DoorbellTests(ServerFixture servers)
{
    private const string Schema = "CREATE TABLE events (id int PRIMARY KEY, note text NOT NULL)";
    private const int PerWriter = 150;

    [Fact]
    public async Task writes_that_did_not_ring_are_read_without_waiting_for_the_poll()
    {
        await using var t = await Topology.CreateAsync(servers,
            nameof(writes_that_did_not_ring_are_read_without_waiting_for_the_poll), Schema, ["public.events"]);
        t.Cli.Environment["FERRY_POLL_SECONDS"] = "600";
        await t.OneSourceTwoTargetsAsync();
        await t.Cli.OkAsync("start");

        // Two writers with irregular gaps: rows land while the doorbell is armed, disarmed and being armed again.
        async Task WriteAsync(int writer)
        {
            await using var c = await t.AppAsync(0);
            var random = new Random(writer);
            for (var i = 0; i < PerWriter; i++)
            {
                await ExecAsync(c, $"INSERT INTO events VALUES ({writer * PerWriter + i}, 'w{writer}')");
                await Task.Delay(random.Next(0, 12));
            }
        }

        // A transaction that writes while the pairs are busy and stays open for a while: arming waits for it, gives
        // up after its lock timeout and tries again, until it commits.
        async Task SlowAsync()
        {
            await using var c = await t.AppAsync(0);
            await using var tx = await c.BeginTransactionAsync();
            await Task.Delay(300);
            await ExecAsync(c, "INSERT INTO events VALUES (100000, 'slow')");
            await Task.Delay(1500);
            await tx.CommitAsync();
        }

        await Task.WhenAll(WriteAsync(0), WriteAsync(1), SlowAsync());
        foreach (var target in new[] { 1, 2 })
            await Eventually.UntilAsync(() => t.ScalarAsync<long>(target, "SELECT count(*) FROM events"),
                n => n == 2 * PerWriter + 1, TimeSpan.FromSeconds(20),
                $"all {2 * PerWriter + 1} rows on db{target + 1}, long before the 600 s poll");
        await t.ConvergedAsync("events", [0, 1, 2]);
    }

    private static async Task ExecAsync(NpgsqlConnection c, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, c);
        await cmd.ExecuteNonQueryAsync();
    }
}
