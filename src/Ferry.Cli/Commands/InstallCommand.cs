using Ferry.ControlStore;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry install`: creates the control store. Bucardo's install asks for a database of its own; ferry needs none,
/// so Bucardo's options (--db-user, --dbname, ...) and a piped "yes" are accepted and said to be unneeded.
/// </summary>
public static class InstallCommand
{
    public static async Task<int> RunAsync(BucardoArguments args, CancellationToken ct)
    {
        var ignored = args.Pairs.Keys.Where(k => k.StartsWith("db", StringComparison.OrdinalIgnoreCase) || k is "pid-dir" or "piddir" or "batch" or "quiet")
            .ToList();
        foreach (var k in ignored) args.Get(k);
        args.RejectUnknown("install");
        args.RejectWords("ferry install (it takes no other words; Bucardo's --db-* options are accepted and not needed)");
        var path = Defaults.StorePath;
        var existed = Store.Exists(path);
        using var store = await Store.CreateAsync(path, ct);
        Output.Line(existed
            ? $"Control store already installed at {path}; it is up to date."
            : $"Installed the ferry control store at {path} (SQLite, mode 0600).");
        if (ignored.Count > 0)
            Output.Line($"Ignored {string.Join(", ", ignored.Select(k => "--" + k))}: ferry keeps its configuration in " +
                        "that file and needs no database of its own.");
        Output.Line("Next: ferry add database NAME dbname=... host=... user=... pass=-   (pass=- asks for the password)");
        return 0;
    }
}
