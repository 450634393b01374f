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
    /// right: what rows copied straight into a table meet when one is already there. A COPY cut off at its sending end
    /// (22P04) is the link's failure, not the data's.
    /// </summary>
    public static bool IsDataRefusal(Exception e) =>
        e is PostgresException pe && !IsLinkFailure(pe)
        && (pe.SqlState.StartsWith("23", StringComparison.Ordinal) || pe.SqlState.StartsWith("22", StringComparison.Ordinal));

    /// <summary>
    /// True when a live connection answered with an SQL error (a statement's, not the link's, the login's or the
    /// server's going away): the database was reached, and must not be shown unreachable.
    /// </summary>
    public static bool IsSqlError(Exception e)
    {
        if (IsLinkFailure(e)) return false;
        for (var x = e; x is not null; x = x.InnerException)
            if (x is PostgresException pe)
            {
                if (pe.SqlState[..2] is "08" or "28" or "3D" or "53" or "57" or "58") return false;
                // CONNECT refused on the database: the login failed, as with a wrong password.
                return !(pe.SqlState == "42501" && pe.MessageText.StartsWith("permission denied for database", StringComparison.Ordinal));
            }
        return false;
    }

    /// <summary>
    /// The one answer to "did the link to a database fail, or the server behind it go away?" (as opposed to an SQL
    /// error on a live connection): the relay retries such a failure at once with a fresh connection, setup commands
    /// retry it, and the database is shown unreachable. True for a reset, refused or timed-out socket (anywhere in
    /// the chain, as Npgsql wraps them), a connection-class error (08), the server ending the session (57P01 admin
    /// shutdown, 57P02 crash shutdown, 57P03 cannot connect now), and a COPY whose data ended early (22P04): ferry
    /// only ever feeds a COPY from another server's COPY, so that is the sending end's connection dying mid-stream,
    /// which the receiving end reports as "unexpected EOF in COPY data". Which end failed is the caller's to tell
    /// (which connection broke; <c>Relay.LinkFailure</c>).
    /// </summary>
    public static bool IsLinkFailure(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
            switch (x)
            {
                case PostgresException pe:
                    return pe.SqlState.StartsWith("08", StringComparison.Ordinal)
                           || pe.SqlState is "57P01" or "57P02" or "57P03" or "22P04";
                case IOException or SocketException or TimeoutException:
                    return true;
            }
        return false;
    }

    /// <summary>
    /// True when a retry may succeed: a link failure (<see cref="IsLinkFailure"/>), or a server error that passes by
    /// itself (a lock not granted, a serialization failure, a deadlock, the server short of resources).
    /// </summary>
    public static bool IsTransient(Exception e) => IsLinkFailure(e) || e switch
    {
        FerryException { InnerException: { } inner } => IsTransient(inner),
        // A unique violation on ferry's own row versions is an application insert racing the apply: retry soon.
        PostgresException { SqlState: "23505", SchemaName: "ferry" } => true,
        PostgresException pe => pe.IsTransient || pe.SqlState is "55P03" or "40001" or "40P01",
        NpgsqlException ne => ne.IsTransient,
        _ => false,
    };

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }
}
