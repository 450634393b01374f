using Ferry.Postgres;

namespace Ferry.Cli;

/// <summary>
/// The connection keys of `ferry add database` and `ferry update database`, Bucardo's spellings mapped to libpq's.
/// The password stays apart from the settings so nothing that prints a database can print it.
/// </summary>
public sealed record DatabaseKeys(Dictionary<string, string> Settings, string? Password, bool PasswordGiven)
{
    public const string Known = "dbname, host, port, user, pass (or Bucardo's dbhost, dbport, dbuser, dbpass), sslmode, " +
                                "sslrootcert, sslcert, sslkey, passfile, connect_timeout, application_name, " +
                                "target_session_attrs, options, uri (or a postgresql:// URI alone), service";

    /// <summary>
    /// The keys given as key=value, over those of a libpq URI (a word of its own, or uri=), over those of a service
    /// (service=, or in the URI's query): the nearer the command line, the more it counts.
    /// </summary>
    /// <param name="extra">Keys the verb takes itself (not connection keys); they are left to it.</param>
    public static DatabaseKeys Parse(BucardoArguments args, string verb, params string[] extra)
    {
        var uris = args.Words.Where(ConnectionUri.IsUri).ToList();
        args.Words.RemoveAll(ConnectionUri.IsUri);
        if (args.Get("uri") is { } uriKey) uris.Add(uriKey);
        if (uris.Count > 1) throw new UsageException("Give one connection URI, not several.");
        var fromUri = uris.Count == 0 ? [] : ConnectionUri.Parse(uris[0]);
        var service = args.Get("service") ?? fromUri.LastOrDefault(k => k.Key == "service").Value;

        var settings = new Dictionary<string, string>();
        string? password = null;
        var passwordGiven = false;
        void Set(string canonical, string value)
        {
            if (canonical != "pass")
            {
                settings[canonical] = value;
                return;
            }
            password = value;
            passwordGiven = true;
        }
        if (service is not null)
            foreach (var (key, value) in ServiceFile.Read(service))
                Set(Canonical(key, $"service {service}"), value);
        foreach (var (key, value) in fromUri.Where(k => k.Key != "service"))
            Set(Canonical(key, $"the URI {ConnectionUri.Redact(uris[0])}"), value);

        var given = new Dictionary<string, string>(); // canonical key -> the spelling the user typed
        foreach (var (key, value) in args.Pairs)
        {
            if (extra.Contains(key, StringComparer.OrdinalIgnoreCase) || key.Equals("uri", StringComparison.OrdinalIgnoreCase)
                || key.Equals("service", StringComparison.OrdinalIgnoreCase)) continue;
            var canonical = Canonical(key, $"'{verb}'");
            // host= and dbhost= both given: which one was meant? Refuse rather than pick one silently.
            if (given.TryGetValue(canonical, out var first))
                throw new UsageException($"'{first}' and '{key}' mean the same thing; give only one of them.");
            given[canonical] = key;
            Set(canonical, value);
        }
        return new DatabaseKeys(settings, password, passwordGiven);
    }

    private static string Canonical(string key, string where) =>
        Connect.PasswordKeys.Contains(key) ? "pass"
        : Connect.KeyAliases.TryGetValue(key, out var c) ? c
        : throw new UsageException($"Unknown key '{key}' for {where}. Known: {Known}.");

    /// <summary>`pass=-`: one line from standard input, never from the command line where `ps` shows it.</summary>
    public static string? ReadPassword(string? password, string name, IReadOnlyDictionary<string, string> settings) =>
        password != "-" ? password
            : PasswordInput.Read($"Password for {settings.GetValueOrDefault("user") ?? Environment.UserName} on " +
                                 $"{settings.GetValueOrDefault("host") ?? "localhost"} (database {name}): ");
}
