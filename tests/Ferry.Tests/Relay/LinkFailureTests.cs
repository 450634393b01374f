using System.Net.Sockets;
using Ferry.Postgres;
using Npgsql;
using Xunit;

namespace Ferry.Tests.Relay;

/// <summary>
/// The one predicate for "the link failed" (the relay's retries, setup commands' retries, the status): what it counts
/// as the link's, and what stays an SQL error. Pure: no server.
/// </summary>
public sealed class LinkFailureTests
{
    private static PostgresException Server(string sqlState) => new("message", "ERROR", "ERROR", sqlState);

    [Theory]
    [InlineData("57P01")] // terminating connection due to administrator command
    [InlineData("57P02")] // crash shutdown
    [InlineData("57P03")] // cannot connect now
    [InlineData("08006")] // connection failure
    [InlineData("22P04")] // unexpected EOF in COPY data: the COPY's sending end died
    public void server_errors_that_mean_the_connection_went_away_are_link_failures(string sqlState)
    {
        Assert.True(PgErrors.IsLinkFailure(Server(sqlState)));
        Assert.True(PgErrors.IsTransient(Server(sqlState)));
        Assert.False(PgErrors.IsSqlError(Server(sqlState)));
        Assert.False(PgErrors.IsDataRefusal(Server(sqlState)));
        Assert.False(Ferry.Progress.TableError.HoldsFor(Server(sqlState)));
    }

    [Fact]
    public void a_reset_a_timeout_and_a_broken_stream_are_link_failures_however_wrapped()
    {
        Assert.True(PgErrors.IsLinkFailure(new NpgsqlException("Exception while reading from stream", new IOException("reset",
            new SocketException((int)SocketError.ConnectionReset)))));
        Assert.True(PgErrors.IsLinkFailure(new NpgsqlException("timeout", new TimeoutException())));
        Assert.True(PgErrors.IsLinkFailure(new FerryException("db1: cannot reach", new SocketException((int)SocketError.ConnectionRefused))));
    }

    [Theory]
    [InlineData("23505")] // unique violation
    [InlineData("22001")] // value too long
    [InlineData("42501")] // permission denied
    [InlineData("40001")] // serialization failure: transient, but the link is fine
    public void sql_errors_on_a_live_connection_are_not(string sqlState)
    {
        Assert.False(PgErrors.IsLinkFailure(Server(sqlState)));
        Assert.False(PgErrors.IsLinkFailure(new InvalidOperationException("Connection is not open")));
    }
}
