using Ferry.ControlStore;
using Ferry.Install;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry remove database | dbgroup | herd | sync NAME`. Removing a sync drops its capture triggers where no other
/// sync needs them; user data is never touched.
/// </summary>
public static class RemoveCommands
{
    public static async Task<int> RunAsync(BucardoArguments args, CancellationToken ct)
    {
        if (args.Words.FirstOrDefault()?.Equals("table", StringComparison.OrdinalIgnoreCase) == true)
            return await TableCommands.RemoveAsync(args, ct);
        args.RejectUnknown("remove");
        if (args.Words.Count < 2) throw new UsageException("ferry remove database|dbgroup|herd|sync|table NAME ...");
        var kind = args.Words[0].ToLowerInvariant() switch
        {
            "database" or "db" => "database",
            "dbgroup" => "dbgroup",
            "herd" or "relgroup" => "herd",
            "sync" => "sync",
            var other => throw new UsageException($"Cannot remove '{other}': use database, dbgroup, herd, sync or table."),
        };
        using var store = await Store.OpenAsync(Defaults.StorePath, ct);
        var names = args.Words.Skip(1).Distinct().ToList();
        // All or nothing: `ferry remove database a typo` must not remove a and then fail on typo.
        foreach (var name in names) await RefuseAsync(store, kind, name, ct);
        foreach (var name in names)
        {
            if (kind == "sync") await RemoveSyncCaptureAsync(store, name, ct);
            await store.RemoveAsync(kind, name, ct);
            Output.Line($"Removed {kind} {name}.");
        }
        if (kind == "sync") await RelayCommands.ReloadIfRunningAsync(ct);
        return 0;
    }

    /// <summary>Throws, naming what to do, when NAME is unknown or still used; checks only, changes nothing.</summary>
    private static async Task RefuseAsync(Store store, string kind, string name, CancellationToken ct)
    {
        List<string> users;
        string user;
        switch (kind)
        {
            case "database":
                await store.GetDatabaseAsync(name, ct);
                users = (await store.ListDbGroupsAsync(ct)).Where(g => g.Members.Any(m => m.Database == name)).Select(g => g.Name).ToList();
                user = "dbgroup";
                break;
            case "dbgroup":
                await store.GetDbGroupAsync(name, ct);
                users = (await store.ListSyncsAsync(ct)).Where(s => s.DbGroup == name).Select(s => s.Name).ToList();
                user = "sync";
                break;
            case "herd":
                await store.GetHerdAsync(name, ct);
                users = (await store.ListSyncsAsync(ct)).Where(s => s.Herd == name).Select(s => s.Name).ToList();
                user = "sync";
                break;
            default:
                await store.GetSyncAsync(name, ct);
                return;
        }
        if (users.Count > 0)
            throw new FerryException($"Cannot remove {kind} {name}: {user} {string.Join(", ", users)} still use{(users.Count == 1 ? "s" : "")} it. " +
                                     $"Remove {(users.Count == 1 ? "that" : "those")} first: ferry remove {user} {string.Join(" ", users)}");
    }

    private static async Task RemoveSyncCaptureAsync(Store store, string name, CancellationToken ct)
    {
        var sync = await store.GetSyncAsync(name, ct);
        var herd = await store.GetHerdAsync(sync.Herd, ct);
        var group = await store.GetDbGroupAsync(sync.DbGroup, ct);
        // What the other syncs still capture, per database: their sources' tables (targets have no triggers).
        var stillNeeded = new HashSet<(string Db, TableName Table)>();
        foreach (var other in (await store.ListSyncsAsync(ct)).Where(s => s.Name != name))
        {
            var oh = await store.GetHerdAsync(other.Herd, ct);
            var og = await store.GetDbGroupAsync(other.DbGroup, ct);
            foreach (var m in og.Members.Where(m => m.Role == Role.Source))
                foreach (var t in oh.Tables)
                    stillNeeded.Add((m.Database, t));
        }
        var work = new List<(Database, IReadOnlyList<TableName>)>();
        foreach (var m in group.Members)
            work.Add((await store.GetDatabaseAsync(m.Database, ct), herd.Tables.Where(t => !stillNeeded.Contains((m.Database, t))).ToList()));
        foreach (var warning in await SyncInstaller.RemoveCaptureAsync(name, work, Output.Retry(), ct)) Output.Error(warning);
    }
}
