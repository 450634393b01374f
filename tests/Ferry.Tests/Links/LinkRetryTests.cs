using System.Net.Sockets;
using Ferry.Postgres;
using Npgsql;
using Xunit;

namespace Ferry.Tests.Links;

/// <summary>
/// What a setup command retries and for how long, without a server: the failures are the ones Npgsql throws.
/// </summary>
public sealed class LinkRetryTests
{
    private static readonly Database Db = new("db1", new Dictionary<string, string> { ["host"] = "h", ["dbname"] = "d", ["user"] = "u" }, null);

    private static NpgsqlException Reset() =>
        new("Exception while reading from stream", new IOException("Connection reset by peer", new SocketException((int)SocketError.ConnectionReset)));

    [Fact]
    public async Task a_reset_is_retried_and_said_until_the_step_gets_through()
    {
        var said = new List<string>();
        var tries = 0;
        var result = await new LinkRetry(said.Add, TimeSpan.FromSeconds(30)).RunAsync(Db, _ =>
            ++tries < 3 ? throw Reset() : Task.FromResult("done"), default);
        Assert.Equal("done", result);
        Assert.Equal(3, tries);
        Assert.Equal(2, said.Count);
        Assert.StartsWith("link to db1 reset; retrying (attempt 2, ", said[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task a_wrong_password_an_sql_error_and_an_address_that_never_answered_are_not_retried()
    {
        var said = new List<string>();
        var retry = new LinkRetry(said.Add, TimeSpan.FromSeconds(30));
        foreach (var failure in new Exception[]
                 {
                     new FerryException("Password authentication failed", new PostgresException("password", "FATAL", "FATAL", "28P01")),
                     new PostgresException("syntax error", "ERROR", "ERROR", "42601"),
                     new FerryException("refused", new NpgsqlException("Failed to connect", new SocketException((int)SocketError.ConnectionRefused))),
                 })
        {
            var tries = 0;
            var thrown = await Assert.ThrowsAnyAsync<Exception>(() => retry.RunAsync(Db, _ =>
            {
                tries++;
                return Task.FromException<int>(failure);
            }, default));
            Assert.Same(failure, thrown);
            Assert.Equal(1, tries);
        }
        Assert.Empty(said);
    }

    [Fact]
    public async Task a_link_that_keeps_failing_is_given_up_on_in_time_unless_steps_get_through()
    {
        var retry = new LinkRetry(_ => { }, TimeSpan.FromSeconds(1));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var gaveUp = await Assert.ThrowsAsync<FerryException>(() => retry.RunAsync(Db, _ => Task.FromException<int>(Reset()), default));
        Assert.InRange(clock.Elapsed.TotalSeconds, 1, 5);
        Assert.Contains("Gave up on the link to db1", gaveUp.Message, StringComparison.Ordinal);
        Assert.Contains("Running the same command again is safe", gaveUp.Message, StringComparison.Ordinal);
        // Without the cause inside: a retry around this one must not take it for a link failure and go on.
        Assert.Null(gaveUp.InnerException);

        // A step that commits part of its work before each reset is slow, not dead: its clock starts again.
        var parts = 0;
        clock.Restart();
        await retry.RunAsync(Db, async _ =>
        {
            await Task.Delay(400);
            retry.Progressed();
            if (++parts < 6) throw Reset();
        }, default);
        Assert.Equal(6, parts);
        Assert.True(clock.Elapsed > TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
    }
}
