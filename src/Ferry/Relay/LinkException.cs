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

/// <summary>Which end of a pair a driver error came from, told by the connection Npgsql broke.</summary>
internal static class LinkFailure
{
    /// <summary>
    /// The failure as a <see cref="LinkException"/> when one of the pair's connections broke, or null when neither
    /// did (a server error on a live connection, say, which is no sign of a dead link).
    /// </summary>
    public static LinkException? Attribute(Exception e, PairSetup setup, NpgsqlConnection source, NpgsqlConnection target)
    {
        if (e is LinkException) return null;
        // Target first: a COPY whose target stalls has read its source to the end, so only the target broke.
        var db = Broken(target) ? setup.Target : Broken(source) ? setup.Source : null;
        return db is null ? null : new LinkException(db, Explain(db, e), e);
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

    private static string Explain(Database db, Exception e)
    {
        var chain = Chain(e).ToList();
        var seconds = Defaults.DeadLinkTimeout.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture);
        if (chain.Any(x => x is TimeoutException))
            return $"Lost the link to {db.Describe()}: no answer within the dead-link bound ({seconds} s, " +
                   "FERRY_DEAD_LINK_SECONDS); retrying.";
        if (chain.LastOrDefault(x => x is SocketException or IOException) is { } io)
            return $"Lost the link to {db.Describe()}: {io.Message.TrimEnd('.')}; retrying.";
        return PgErrors.Explain(db, e);
    }
}
