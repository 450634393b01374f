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
                $"Password authentication failed for user '{db.User}' on {where}. Check the password given with pass= " +
                "(or in ~/.pgpass, or passfile=) for that user.",
            (PostgresException { SqlState: "28000" } pe, _) =>
                $"The server refused {where}: {pe.MessageText}. Add a pg_hba.conf entry for this host and user.",
            (PostgresException { SqlState: "3D000" }, _) =>
                $"Database '{db.DbName}' does not exist on {db.Host}:{db.Port} ({db.Name}). Check dbname=.",
            (PostgresException { SqlState: "42501" } pe, _) when pe.MessageText.StartsWith("permission denied for database", StringComparison.Ordinal) =>
                $"{db.User} may not connect to {where}. As a superuser or the database owner, run: " +
                $"GRANT CONNECT ON DATABASE {Quote.Ident(db.DbName)} TO {Quote.Ident(db.User)};",
            (PostgresException { SqlState: "42501" } pe, _) =>
                $"Permission denied on {where}: {pe.MessageText}. Grant {db.User} the right named there, as a superuser or the owner.",
            (PostgresException pe, _) => $"{where}: {pe.MessageText} (SQLSTATE {pe.SqlState}).",
            (_, SocketException { SocketErrorCode: SocketError.ConnectionRefused }) =>
                $"Cannot reach {where}: connection refused. Is PostgreSQL running there and listening on port {db.Port}?",
            (_, SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData }) =>
                $"Cannot reach {where}: host '{db.Host}' not found. Check host=.",
            (_, SocketException se) => $"Cannot reach {where}: {se.Message}.",
            (NpgsqlException { InnerException: TimeoutException }, _) or (TimeoutException, _) =>
                $"Cannot reach {where}: no answer within {ConnectSeconds(db)} s. Check host=, port= and the firewall " +
                "between here and there; over a slow link, raise connect_timeout=SECONDS.",
            // Something answered, but not in PostgreSQL's protocol: a web server, an SSH daemon, a wrong port.
            (NpgsqlException ne, _) when ne.Message.Contains("SSLRequest", StringComparison.Ordinal)
                                         || ne.Message.Contains("unknown response", StringComparison.OrdinalIgnoreCase) =>
                $"Cannot talk to {where}: something answers on {db.Host}:{db.Port}, but it is not PostgreSQL. Check host= and port=.",
            _ => $"{where}: {inner.Message}",
        };
    }

    private static int ConnectSeconds(Database db) =>
        int.TryParse(db.Settings.GetValueOrDefault("connect_timeout"), out var s) ? s : (int)Defaults.ConnectTimeout.TotalSeconds;

    /// <summary>
    /// True when the server refused the data itself (a constraint: class 23; a value: class 22), not the link or a
    /// right: what rows copied straight into a table meet when one is already there.
    /// </summary>
    public static bool IsDataRefusal(Exception e) =>
        e is PostgresException pe && (pe.SqlState.StartsWith("23", StringComparison.Ordinal) || pe.SqlState.StartsWith("22", StringComparison.Ordinal));

    /// <summary>
    /// True when a live connection answered with an SQL error (a statement's, not the link's, the login's or the
    /// server's going away): the database was reached, and must not be shown unreachable.
    /// </summary>
    public static bool IsSqlError(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
            if (x is PostgresException pe)
            {
                if (pe.SqlState[..2] is "08" or "28" or "3D" or "53" or "57" or "58") return false;
                // CONNECT refused on the database: the login failed, as with a wrong password.
                return !(pe.SqlState == "42501" && pe.MessageText.StartsWith("permission denied for database", StringComparison.Ordinal));
            }
        return false;
    }

    /// <summary>True when the error is about the link or the server being away, so a retry may succeed.</summary>
    public static bool IsTransient(Exception e) => e switch
    {
        FerryException { InnerException: { } inner } => IsTransient(inner),
        // A unique violation on ferry's own row versions is an application insert racing the apply: retry soon.
        PostgresException { SqlState: "23505", SchemaName: "ferry" } => true,
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
