using Ferry.ControlStore;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry install`: creates the control store. With no keys, the SQLite file in $FERRY_HOME (ferry needs no database
/// of its own). With a PostgreSQL database's keys (dbname= host= port= user=, or Bucardo's --dbname --dbhost --dbport
/// --dbuser --dbpass), a schema there that several relay hosts can share, and a pointer to it in $FERRY_HOME.
/// </summary>
public static class InstallCommand
{
    /// <summary>Bucardo's install options that mean nothing to ferry; accepted so its scripts run unchanged.</summary>
    private static readonly string[] Ignored = ["batch", "quiet", "pid-dir", "piddir"];

    public static async Task<int> RunAsync(BucardoArguments args, CancellationToken ct)
    {
        args = StoreKeys.Normalized(args);
        var ignored = args.Pairs.Keys.Where(k => Ignored.Contains(k, StringComparer.OrdinalIgnoreCase)).ToList();
        var target = StoreKeys.Parse(args, "install", Ignored);
        foreach (var k in ignored) args.Get(k);
        args.RejectWords("ferry install [dbname=DB host=HOST port=PORT user=USER [passfile=FILE | pass=-] [schema=NAME]]");
        if (target is not null) return await PostgresAsync(target, ct);
        var home = StoreAddress.For(Defaults.StorePath);
        if (home.IsPostgres)
        {
            // FERRY_STORE, or a pointer written by an earlier install: bring that store up to date.
            using (await Store.CreateAsync(home, ct)) { }
            Output.Line($"Control store already installed: {home.Describe()} (named in {home.From}); it is up to date.");
            return 0;
        }
        var path = Defaults.StorePath;
        var existed = Store.Exists(path);
        using var store = await Store.CreateAsync(home, ct);
        Output.Line(existed
            ? $"Control store already installed at {path}; it is up to date."
            : $"Installed the ferry control store at {path} (SQLite, mode 0600).");
        if (ignored.Count > 0)
            Output.Line($"Ignored {string.Join(", ", ignored.Select(k => "--" + k))}: they mean nothing to ferry.");
        Output.Line("Next: ferry add database NAME dbname=... host=... user=... pass=-   (pass=- asks for the password)");
        return 0;
    }

    private static async Task<int> PostgresAsync(StoreKeys.Target target, CancellationToken ct)
    {
        var address = target.Address;
        if (Defaults.StoreSetting is { } setting && !setting.SameStore(address))
            throw new UsageException($"FERRY_STORE names another control store ({setting.Describe()}). Unset it, or run ferry install " +
                                     "without keys to install the store it names.");
        if (File.Exists(Defaults.StorePointerPath) && StoreAddress.For(Defaults.StorePath) is var current && !current.SameStore(address))
            throw new FerryException($"This FERRY_HOME already uses the control store {current.Describe()} (named in " +
                                     $"{Defaults.StorePointerPath}). Use another FERRY_HOME, or remove that file first.");
        if (File.Exists(Defaults.StorePath))
            throw new FerryException($"This FERRY_HOME has a SQLite control store, {Defaults.StorePath}. To carry its configuration " +
                                     "over to PostgreSQL, run ferry store move with the same keys.");
        using (await Store.CreateAsync(address, ct)) { }
        if (Defaults.StoreSetting is null) StoreKeys.WritePointer(target);
        Output.Line($"Installed the ferry control store in {address.Describe()}: the schema is {address.Server!.User}'s, " +
                    "and no other role may use it.");
        if (Defaults.StoreSetting is null)
            Output.Line($"Every ferry command with this FERRY_HOME uses it ({Defaults.StorePointerPath}). On another relay host, set " +
                        $"FERRY_STORE={StoreKeys.Uri(address)} (the password from ~/.pgpass or PGPASSWORD there).");
        StoreKeys.SayWherePasswordIs(target);
        Output.Line("Next: ferry add database NAME dbname=... host=... user=... pass=-   (pass=- asks for the password)");
        return 0;
    }
}
