using Ferry.ControlStore;
using Ferry.Install;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry upgrade`: after installing a newer ferry, installs its schema and capture over the old ones on every
/// database of every sync, in place. What is installed is idempotent, replaced in one transaction per table, and
/// keeps every row version, position and conflict: the application keeps writing, and nothing it writes meanwhile
/// goes uncaptured. Bucardo has the same verb for the same job.
/// </summary>
public static class UpgradeCommand
{
    public static async Task<int> RunAsync(BucardoArguments args, CancellationToken ct)
    {
        args.RejectUnknown("upgrade");
        args.RejectWords("ferry upgrade");
        using var store = await Store.OpenAsync(Defaults.StorePath, ct);
        var syncs = await store.ListSyncGroupsAsync(ct);
        if (syncs.Count == 0)
        {
            Output.Line("Nothing to upgrade: no sync is configured.");
            return 0;
        }
        // Capture goes where some pair reads, in any sync: the same rule as ferry add sync.
        var capturing = syncs.SelectMany(s => s.Group.Sources).ToHashSet();
        var failed = new List<string>();
        var retry = Output.Retry();
        foreach (var (sync, group) in syncs)
        {
            var herd = await store.GetHerdAsync(sync.Herd, ct);
            var databases = new List<Database>();
            foreach (var m in group.Members) databases.Add(await store.GetDatabaseAsync(m.Database, ct));
            var sequenceTargets = Sync.PairsOf(sync, group).Select(p => p.Target).ToHashSet();
            var problems = await SyncInstaller.CheckAsync(databases, herd, sequenceTargets, Sync.PairsOf(sync, group), retry, ct);
            if (problems.Count > 0)
            {
                failed.Add($"Sync {sync.Name} was not upgraded; nothing of it was changed:" + Environment.NewLine + "    " +
                           string.Join(Environment.NewLine + "    ", problems));
                continue;
            }
            await SyncInstaller.InstallAsync(databases, herd, capturing, retry, ct);
            Output.Line($"Upgraded sync {sync.Name} to ferry schema version {NodeInstaller.SchemaVersion} on " +
                        $"{string.Join(", ", databases.Select(d => d.Name))}.");
        }
        if (failed.Count > 0)
            throw new FerryException(string.Join(Environment.NewLine, failed) + Environment.NewLine +
                                     "Fix what is named, then run ferry upgrade again: the syncs already upgraded are left as they are.");
        Output.Line("If the relay runs, restart it so that its pairs start on the new version at once: ferry restart");
        return 0;
    }
}
