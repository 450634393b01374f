using Ferry.ControlStore;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry store move KEYS`: carries this home's SQLite store over to a PostgreSQL store, so that relays on other hosts
/// can share it; then every command here uses that one, and the old file stays as ferry.db.moved.
/// </summary>
public static class StoreCommand
{
    private const string Usage = "ferry store move dbname=DB host=HOST port=PORT user=USER [passfile=FILE | pass=-] [schema=NAME]";

    public static async Task<int> RunAsync(BucardoArguments args, CancellationToken ct)
    {
        if (args.Words.Count == 0 || !args.Words[0].Equals("move", StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"Which store command? {Usage}");
        args.Words.RemoveAt(0);
        args = StoreKeys.Normalized(args);
        var target = StoreKeys.Parse(args, "store move") ?? throw new UsageException($"Where to? {Usage}");
        args.RejectWords(Usage);
        var current = StoreAddress.For(Defaults.StorePath);
        if (current.IsPostgres)
            throw new FerryException($"This FERRY_HOME already uses a PostgreSQL control store, {current.Describe()} (named in " +
                                     $"{current.From}): there is no SQLite store to move.");
        var path = Defaults.StorePath;
        if (!File.Exists(path))
            throw new FerryException($"No SQLite control store at {path} to move. To start on PostgreSQL, run ferry install with the same keys.");
        if (await RelayProcess.FindAsync(ct) is { } relay)
            throw new FerryException($"The relay runs (pid {relay.Pid}) and writes to {path}: stop it first (ferry stop), move the " +
                                     "store, then start it again.");
        var moved = await Store.MoveAsync(path, target.Address, ct);
        // The pointer first: from here on the home uses the new store, even if renaming the old file fails.
        StoreKeys.WritePointer(target);
        foreach (var suffix in new[] { "", "-wal", "-shm" })
            if (File.Exists(path + suffix)) File.Move(path + suffix, path + ".moved" + suffix, overwrite: true);
        Output.Line($"Moved the control store into {target.Address.Describe()}: " +
                    string.Join(", ", moved.Where(m => m.Rows > 0).Select(m => $"{m.Rows} {m.Table}")) + ".");
        Output.Line($"Every ferry command with this FERRY_HOME now uses it ({Defaults.StorePointerPath}); the old file is kept as " +
                    $"{path}.moved. On another relay host, set FERRY_STORE={StoreKeys.Uri(target.Address)}.");
        StoreKeys.SayWherePasswordIs(target);
        return 0;
    }
}
