namespace Ferry.Postgres;

/// <summary>
/// A libpq connection URI, <c>postgresql://user:password@host:port/dbname?key=value&amp;…</c>, as libpq reads it
/// (percent-encoding, [IPv6] hosts, query keys being connection keys), into the keys `add database` takes. Npgsql
/// takes no URIs, and ferry stores keys, so the URI is read here, once (for `add database`, and for the control store's
/// FERRY_STORE). A URI it cannot read is a <see cref="FormatException"/>: a usage error, exit 2.
/// </summary>
public static class ConnectionUri
{
    public static bool IsUri(string text) =>
        text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase);

    /// <returns>libpq key → value, in libpq's spelling (password as "password")</returns>
    public static List<(string Key, string Value)> Parse(string uri)
    {
        if (!IsUri(uri)) throw Bad(uri, "it must start with postgresql:// or postgres://");
        var rest = uri[(uri.IndexOf("://", StringComparison.Ordinal) + 3)..];
        var keys = new List<(string, string)>();
        var query = "";
        if (rest.IndexOf('?', StringComparison.Ordinal) is var q and >= 0) (rest, query) = (rest[..q], rest[(q + 1)..]);
        var path = "";
        if (rest.IndexOf('/', StringComparison.Ordinal) is var slash and >= 0) (rest, path) = (rest[..slash], rest[(slash + 1)..]);
        if (rest.LastIndexOf('@') is var at and >= 0)
        {
            var userInfo = rest[..at];
            rest = rest[(at + 1)..];
            var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
            var user = colon >= 0 ? userInfo[..colon] : userInfo;
            if (user.Length > 0) keys.Add(("user", Decode(uri, user)));
            if (colon >= 0) keys.Add(("password", Decode(uri, userInfo[(colon + 1)..])));
        }
        if (rest.Contains(',', StringComparison.Ordinal))
            throw Bad(uri, "it names several hosts; ferry connects to one: give the one to use");
        string host = rest, port = "";
        if (rest.StartsWith('['))
        {
            var close = rest.IndexOf(']', StringComparison.Ordinal);
            if (close < 0) throw Bad(uri, "an IPv6 host has no closing ]");
            host = rest[1..close];
            if (rest.Length > close + 1)
            {
                if (rest[close + 1] != ':') throw Bad(uri, "after the ] of an IPv6 host only :PORT may follow");
                port = rest[(close + 2)..];
            }
        }
        else if (rest.LastIndexOf(':') is var c and >= 0)
        {
            (host, port) = (rest[..c], rest[(c + 1)..]);
        }
        if (host.Length > 0) keys.Add(("host", Decode(uri, host)));
        if (port.Length > 0) keys.Add(("port", Decode(uri, port)));
        if (path.Length > 0) keys.Add(("dbname", Decode(uri, path)));
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw Bad(uri, $"'{pair}' in its query is not key=value");
            keys.Add((Decode(uri, pair[..eq]), Decode(uri, pair[(eq + 1)..])));
        }
        return keys;
    }

    private static string Decode(string uri, string text)
    {
        try
        {
            return Uri.UnescapeDataString(text);
        }
        catch (UriFormatException)
        {
            throw Bad(uri, $"'{text}' is not valid percent-encoding");
        }
    }

    // The URI may carry a password: never echo it.
    private static FormatException Bad(string uri, string why) =>
        new($"The connection URI {Redact(uri)} cannot be read: {why}. Form: postgresql://user@host:port/dbname?sslmode=require");

    public static string Redact(string uri)
    {
        var scheme = uri.IndexOf("://", StringComparison.Ordinal);
        var at = uri.LastIndexOf('@');
        if (scheme < 0 || at < scheme) return uri;
        var colon = uri.IndexOf(':', scheme + 3);
        return colon >= 0 && colon < at ? uri[..(colon + 1)] + "***" + uri[at..] : uri;
    }
}
