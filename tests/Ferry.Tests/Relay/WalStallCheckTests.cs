using Ferry.Capture.Wal;
using NpgsqlTypes;
using Xunit;

namespace Ferry.Tests.Relay;

/// <summary>
/// The capture's stall check: a stream that delivers nothing while its database flushes WAL is read again after the
/// limit; a stream that moves, has work in hand, or has seen all the server flushed is left alone.
/// </summary>
public sealed class WalStallCheckTests
{
    private static readonly NpgsqlLogSequenceNumber At = new(1000), Later = new(2000);

    [Fact]
    public void a_stream_behind_the_server_for_the_limit_is_read_again_and_a_live_or_caught_up_one_is_not()
    {
        var now = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var check = new WalStallCheck(TimeSpan.FromSeconds(60), () => now);
        check.Check(At, Later, idle: true, "db1");
        now += TimeSpan.FromSeconds(59);
        check.Check(At, Later, idle: true, "db1");
        now += TimeSpan.FromSeconds(2);
        var stalled = Assert.Throws<FerryException>(() => check.Check(At, Later, idle: true, "db1"));
        Assert.Contains("WAL capture of db1 stalled", stalled.Message);

        // Caught up with what the server flushed, or logging what it received: waiting, not stalled.
        foreach (var (received, flushed, idle) in new[] { (At, At, true), (At, Later, false) })
        {
            var clock = now;
            var quiet = new WalStallCheck(TimeSpan.FromSeconds(60), () => clock);
            for (var i = 0; i < 5; i++, clock += TimeSpan.FromSeconds(30)) quiet.Check(received, flushed, idle, "db1");
        }

        // Moving: the limit counts from its last move.
        var moving = new WalStallCheck(TimeSpan.FromSeconds(60), () => now);
        for (ulong i = 0; i < 5; i++, now += TimeSpan.FromSeconds(30)) moving.Check(new NpgsqlLogSequenceNumber(1000 + i), Later, true, "db1");
    }
}
