using System.Net.Sockets;
using Npgsql;

namespace Ferry.Postgres;

/// <summary>Turns driver errors into sentences that name the database and the fix. Never includes a password.</summary>
public static class PgErrors
{
    public static string Explain(Database db, Exception e)
    {
        var where = db.Describe();
        var inner = Innermost(e);
        return (e, inner) switch
        {
            (PostgresException { SqlState: "28P01" }, _) =>
                $"Password authentication failed for {where}. Check pass= (or ~/.pgpass) for user '{db.User}'.",
            (PostgresException { SqlState: "28000" } pe, _) =>
                $"The server refused {where}: {pe.MessageText}. Add a pg_hba.conf entry for this host and user.",
            (PostgresException { SqlState: "3D000" }, _) =>
                $"Database '{db.DbName}' does not exist on {db.Host}:{db.Port} ({db.Name}). Check dbname=.",
            (PostgresException { SqlState: "42501" } pe, _) =>
                $"Permission denied on {where}: {pe.MessageText}.",
            (PostgresException pe, _) => $"{where}: {pe.MessageText} (SQLSTATE {pe.SqlState}).",
            (_, SocketException { SocketErrorCode: SocketError.ConnectionRefused }) =>
                $"Cannot reach {where}: connection refused. Is PostgreSQL running there and listening on port {db.Port}?",
            (_, SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData }) =>
                $"Cannot reach {where}: host '{db.Host}' not found. Check host=.",
            (_, SocketException se) => $"Cannot reach {where}: {se.Message}.",
            (NpgsqlException { InnerException: TimeoutException }, _) or (TimeoutException, _) =>
                $"Cannot reach {where}: timed out. Check host=, port= and the firewall between here and there.",
            _ => $"{where}: {inner.Message}",
        };
    }

    /// <summary>True when the error is about the link or the server being away, so a retry may succeed.</summary>
    public static bool IsTransient(Exception e) => e switch
    {
        FerryException { InnerException: { } inner } => IsTransient(inner),
        PostgresException pe => pe.IsTransient || pe.SqlState is "57P01" or "57P02" or "57P03" or "55P03" or "40001" or "40P01"
                                || pe.SqlState.StartsWith("08", StringComparison.Ordinal),
        NpgsqlException ne => ne.IsTransient || ne.InnerException is SocketException or IOException or TimeoutException,
        IOException or SocketException or TimeoutException => true,
        _ => false,
    };

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }
}
