using Ferry.ControlStore;
using Ferry.Install;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry validate SYNC ... | all` (Bucardo's verb): every check `ferry add sync` runs — grants, table shapes, kinds,
/// row-level security, sequences — and what it installed, on every database of the sync. Changes nothing. Exit 0 when
/// all is well, 1 with the problems.
/// </summary>
public static class ValidateCommand
{
    public static async Task<int> RunAsync(BucardoArguments args, CancellationToken ct)
    {
        args.RejectUnknown("validate");
        if (args.Words.Count == 0) throw new UsageException("Which sync? ferry validate SYNC ... | ferry validate all");
        using var store = await Store.OpenAsync(Defaults.StorePath, ct);
        var all = await store.ListSyncGroupsAsync(ct);
        var chosen = new List<(Sync Sync, DbGroup Group)>();
        if (args.Words is ["all"]) chosen.AddRange(all);
        else
            foreach (var name in args.Words.Distinct())
            {
                await store.GetSyncAsync(name, ct);
                chosen.Add(all.First(s => s.Sync.Name == name));
            }
        if (chosen.Count == 0)
        {
            Output.Line("No sync to validate. Add one: ferry add sync NAME herd=H dbs=G");
            return 0;
        }
        // Capture belongs where some pair reads, in any sync: the rule add sync and upgrade install by.
        var capturing = all.SelectMany(s => s.Group.Sources).ToHashSet();
        var failed = 0;
        var retry = Output.Retry();
        foreach (var (sync, group) in chosen)
        {
            var herd = await store.GetHerdAsync(sync.Herd, ct);
            var databases = new List<Database>();
            foreach (var m in group.Members) databases.Add(await store.GetDatabaseAsync(m.Database, ct));
            var pairs = Sync.PairsOf(sync, group);
            var problems = await SyncInstaller.CheckAsync(databases, herd, pairs.Select(p => p.Target).ToHashSet(), pairs, retry, ct);
            foreach (var db in databases)
                problems.AddRange(await InstallState.ProblemsAsync(db, herd.Tables, capturing.Contains(db.Name) && !db.CapturesWal, retry, ct));
            var what = $"{databases.Count} databases, {herd.Tables.Count} table{(herd.Tables.Count == 1 ? "" : "s")}" +
                       (herd.Sequences.Count == 0 ? "" : $", {herd.Sequences.Count} sequence{(herd.Sequences.Count == 1 ? "" : "s")}") +
                       (sync.Active ? "" : "; paused");
            if (problems.Count == 0)
            {
                Output.Line($"Sync {sync.Name}: good ({what}).");
                continue;
            }
            failed++;
            Output.Line($"Sync {sync.Name}: {problems.Count} problem{(problems.Count == 1 ? "" : "s")} ({what}):");
            foreach (var p in problems) Output.Line("  " + p.Replace(Environment.NewLine, Environment.NewLine + "    ", StringComparison.Ordinal));
        }
        return failed == 0 ? 0 : 1;
    }
}
