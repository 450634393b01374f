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
                                "target_session_attrs, options";

    /// <param name="extra">Keys the verb takes itself (not connection keys); they are left to it.</param>
    public static DatabaseKeys Parse(BucardoArguments args, string verb, params string[] extra)
    {
        var settings = new Dictionary<string, string>();
        var given = new Dictionary<string, string>(); // canonical key -> the spelling the user typed
        string? password = null;
        var passwordGiven = false;
        foreach (var (key, value) in args.Pairs)
        {
            if (extra.Contains(key, StringComparer.OrdinalIgnoreCase)) continue;
            var canonical = Connect.PasswordKeys.Contains(key) ? "pass"
                : Connect.KeyAliases.TryGetValue(key, out var c) ? c
                : throw new UsageException($"Unknown key '{key}' for '{verb}'. Known: {Known}.");
            // host= and dbhost= both given: which one was meant? Refuse rather than pick one silently.
            if (given.TryGetValue(canonical, out var first))
                throw new UsageException($"'{first}' and '{key}' mean the same thing; give only one of them.");
            given[canonical] = key;
            if (canonical == "pass")
            {
                password = value;
                passwordGiven = true;
            }
            else
            {
                settings[canonical] = value;
            }
        }
        return new DatabaseKeys(settings, password, passwordGiven);
    }

    /// <summary>`pass=-`: one line from standard input, never from the command line where `ps` shows it.</summary>
    public static string? ReadPassword(string? password, string name, IReadOnlyDictionary<string, string> settings) =>
        password != "-" ? password
            : PasswordInput.Read($"Password for {settings.GetValueOrDefault("user") ?? Environment.UserName} on " +
                                 $"{settings.GetValueOrDefault("host") ?? "localhost"} (database {name}): ");
}
