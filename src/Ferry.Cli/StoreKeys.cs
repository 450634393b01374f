using Ferry.ControlStore;

namespace Ferry.Cli;

/// <summary>
/// The keys of a PostgreSQL control store on the command line (`ferry install`, `ferry store move`): those of
/// `ferry add database`, Bucardo's install spellings (--dbname, --db-host, ...), and schema=.
/// </summary>
public static class StoreKeys
{
    public sealed record Target(StoreAddress Address, bool PasswordGiven);

    /// <summary>Bucardo's install options are spelt with a dash too (--db-user): read them as dbuser.</summary>
    public static BucardoArguments Normalized(BucardoArguments args) =>
        new(args.Words.Concat(args.Pairs.Select(p =>
            (p.Key.StartsWith("db-", StringComparison.OrdinalIgnoreCase) ? "db" + p.Key[3..] : p.Key) + "=" + p.Value)));

    /// <returns>the store the keys name, or null when none are given</returns>
    public static Target? Parse(BucardoArguments args, string verb, params string[] extra)
    {
        var keys = DatabaseKeys.Parse(args, verb, [.. extra, "schema"]);
        var schema = args.Get("schema");
        if (keys.Settings.Count == 0 && !keys.PasswordGiven)
            return schema is null ? null : throw new UsageException("schema= names the control store's schema: give the database's keys too (dbname= host= ...).");
        ConnectionSettings.Validate(keys.Settings);
        if (!keys.Settings.ContainsKey("dbname"))
            throw new UsageException($"Which database holds the control store? ferry {verb} dbname=DB host=HOST port=PORT user=USER [schema=NAME]");
        var password = DatabaseKeys.ReadPassword(keys.Password, "control store", keys.Settings);
        try
        {
            return new Target(StoreAddress.Postgres(keys.Settings, password, schema, "the command line"), keys.PasswordGiven);
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>The pointer file, mode 0600, never through a link; with the password only when pass= gave one.</summary>
    public static void WritePointer(Target target) =>
        FerryHome.WriteAtomically(Defaults.StorePointerPath, target.Address.PointerText(withPassword: target.PasswordGiven));

    public static void SayWherePasswordIs(Target target)
    {
        if (target.PasswordGiven && Defaults.StoreSetting is null)
            Output.Line($"The password given with pass= is kept in {Defaults.StorePointerPath} (mode 0600). To keep it out, put it in " +
                        "~/.pgpass or a passfile= instead, and run the command again without pass=.");
    }

    /// <summary>The store as a libpq URI for FERRY_STORE, without its password.</summary>
    public static string Uri(StoreAddress a)
    {
        var s = a.Server!;
        var query = s.Settings.Where(k => k.Key is not ("host" or "port" or "dbname" or "user"))
            .Select(k => $"{Escape(k.Key)}={Escape(k.Value)}").Append($"schema={Escape(a.Schema)}");
        return $"postgresql://{Escape(s.User)}@{(s.Host.Contains(':', StringComparison.Ordinal) ? $"[{s.Host}]" : Escape(s.Host))}:{s.Port}/" +
               $"{Escape(s.DbName)}?{string.Join('&', query)}";
    }

    private static string Escape(string text) => System.Uri.EscapeDataString(text);
}
