using System.Data;
using System.Globalization;
using System.Net.Sockets;
using Ferry.Postgres;
using Npgsql;

namespace Ferry.Relay;

/// <summary>
/// A failure on the link to one database of a pair: the connection could not be opened, or broke (reset, timed out,
/// closed) while in use. It says which end failed, so the relay marks that database unreachable and not the other.
/// </summary>
public sealed class LinkException(Database database, string message, Exception inner) : Exception(message, inner)
{
    public Database Database => database;
}

/// <summary>What a pair was doing when a link failed: said in the failure's message.</summary>
public enum PairPhase
{
    Connecting,
    Reading,
    Copying,
    Applying,
}

/// <summary>
/// Which end of a pair a failure came from, told by the error (<see cref="PgErrors.IsLinkFailure"/>) and by which
/// connection Npgsql broke. The one place the relay decides "the link to this database failed".
/// </summary>
internal static class LinkFailure
{
    /// <summary>
    /// The failure as a <see cref="LinkException"/> naming the end that failed, or null when it is no link failure
    /// (an SQL error on a live connection: a held table, a lock, a grant).
    /// </summary>
    public static LinkException? Attribute(Exception e, PairSetup setup, NpgsqlConnection source, NpgsqlConnection target,
        PairPhase phase = PairPhase.Reading)
    {
        if (e is LinkException) return null;
        var db = FailedEnd(e, setup, source, target);
        return db is null ? null : new LinkException(db, Explain(db, e, phase), e);
    }

    /// <summary>
    /// Target first: a COPY whose target dies has its source stream abandoned too (both connections close), while one
    /// whose source dies leaves the target open and reporting 22P04, which only a cut-off sender causes. A link failure
    /// on two open connections (a timeout that did not break one) is not attributed: the caller guesses by message.
    /// </summary>
    private static Database? FailedEnd(Exception e, PairSetup setup, NpgsqlConnection source, NpgsqlConnection target)
    {
        if (Broken(target)) return setup.Target;
        if (Broken(source)) return setup.Source;
        return Chain(e).Any(x => x is PostgresException { SqlState: "22P04" }) ? setup.Source : null;
    }

    /// <summary>A connection that could not be opened: the explained failure, with the timeout the relay really used.</summary>
    public static LinkException Opening(Database db, FerryException e)
    {
        var seconds = Connect.TimeoutSeconds(db, deadLinkBound: true);
        var message = Chain(e).Any(x => x is TimeoutException)
            ? $"Cannot reach {db.Describe()}: no answer within {seconds} s. Check host=, port= and the firewall between " +
              "here and there; over a slow link, raise connect_timeout=SECONDS or FERRY_DEAD_LINK_SECONDS."
            : e.Message;
        return new LinkException(db, message, e);
    }

    private static IEnumerable<Exception> Chain(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException) yield return x;
    }

    private static bool Broken(NpgsqlConnection c) =>
        c.FullState.HasFlag(ConnectionState.Broken) || c.FullState == ConnectionState.Closed;

    private static string Explain(Database db, Exception e, PairPhase phase)
    {
        var chain = Chain(e).ToList();
        var seconds = Defaults.DeadLinkTimeout.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture);
        var doing = phase switch
        {
            PairPhase.Connecting => "while connecting",
            PairPhase.Copying => "while copying a chunk",
            PairPhase.Applying => "while applying a chunk",
            _ => "while reading",
        };
        var why = chain.FirstOrDefault(x => x is TimeoutException) is not null
            ? $"no answer within the dead-link bound ({seconds} s, FERRY_DEAD_LINK_SECONDS)"
            : chain.OfType<PostgresException>().FirstOrDefault() is { } pe && PgErrors.IsLinkFailure(pe)
                ? pe.SqlState == "22P04"
                    ? "its connection ended in the middle of a COPY"
                    : $"the server ended the connection: {pe.MessageText} ({pe.SqlState})"
                : chain.LastOrDefault(x => x is SocketException or IOException) is { } io
                    ? io.Message.TrimEnd('.')
                    : $"the connection closed ({chain[^1].Message.TrimEnd('.')})";
        return $"Lost the link to {db.Describe()} {doing}: {why}; retrying at once.";
    }
}
