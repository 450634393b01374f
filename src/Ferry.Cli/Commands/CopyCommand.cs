using Ferry.ControlStore;
using Ferry.Copy;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry copy SYNC to=DB[,DB...] [from=SOURCE] [mode=replace|empty]`: re-copies targets of an existing sync from one
/// of its sources, the way `add sync onetimecopy=` fills them (Copy/OneTimeCopy), and sets their pairs going again:
/// the copy's snapshot becomes the position from that source, and the other sources' pairs into the target start from
/// the beginning. What ferry asks for when a target was away longer than the tombstone retention, or a source was
/// restored from a backup or replaced. The relay may run meanwhile: the sync's pairs into a target wait while its copy
/// is unfinished, and then read their new positions (PairProgress.GuardSql); the other pairs go on.
/// </summary>
public static class CopyCommand
{
    private const string Usage = "ferry copy SYNC to=DB[,DB...] [from=SOURCE] [mode=replace|empty] [tables=T,...] [--quiet]";

    public static async Task<int> RunAsync(BucardoArguments args, CancellationToken ct)
    {
        var to = args.Get("to", "target", "targets");
        var from = args.Get("from", "source");
        var mode = (args.Get("mode") ?? "replace").ToLowerInvariant();
        var tablesText = args.Get("tables", "table");
        var display = ProgressDisplay.FromArguments(args);
        args.RejectUnknown("copy");
        if (args.Words.Count != 1) throw new UsageException("Which sync? " + Usage);
        if (to is null) throw new UsageException("Which database should be filled? " + Usage);
        if (mode is not ("replace" or "empty"))
            throw new UsageException($"mode takes replace (the target's rows are replaced) or empty (only its empty tables are filled), not '{mode}'.");
        using var store = await Store.OpenAsync(Defaults.StorePath, ct);
        var sync = await store.GetSyncAsync(args.Words[0], ct);
        var herd = await store.GetHerdAsync(sync.Herd, ct);
        var group = await store.GetDbGroupAsync(sync.DbGroup, ct);
        var all = await store.ListSyncGroupsAsync(ct);
        var tables = herd.Tables;
        if (tablesText is not null)
        {
            tables = tablesText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(t => TableName.Parse(t)).ToList();
            if (tables.FirstOrDefault(t => !herd.Tables.Contains(t)) is { } stray)
                throw new UsageException($"Table {stray} is not in herd {herd.Name} of sync {sync.Name}: it has {string.Join(", ", herd.Tables)}.");
        }
        var some = tables.Count < herd.Tables.Count;
        var sourceName = from ?? group.Sources.First();
        if (!group.Sources.Contains(sourceName))
            throw new UsageException($"from= must be a source of sync {sync.Name}: one of {string.Join(", ", group.Sources)}.");
        var targets = to.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct().ToList();
        foreach (var name in targets) CheckTarget(name, sync.Name, group, all);

        var source = await store.GetDatabaseAsync(sourceName, ct);
        var plain = PlainTargets.Of(all);
        var others = group.Sources.Where(s => s != sourceName).ToList();
        for (var i = 0; i < targets.Count; i++)
        {
            var name = targets[i];
            Output.Line($"copy: filling {name} from {sourceName}{(mode == "empty" ? " (empty tables only)" : "")}...");
            var target = await store.GetDatabaseAsync(name, ct);
            // This target and those after it: the ones before are done.
            var resume = $"ferry copy {sync.Name} to={string.Join(",", targets.Skip(i))} from={sourceName}{(mode == "empty" ? " mode=empty" : "")}" +
                         (some ? " tables=" + string.Join(",", tables) : "");
            var lines = await RecordedAsync(store, sync.Name, sourceName, name, display, resume, progress => ResumingCopy.RunAsync(source,
                target, sync.Name, tables, targetKeepsVersions: !plain.Contains(name), replace: mode == "replace",
                restartFrom: others, Output.Line, ct, progress, keepPosition: some), ct);
            foreach (var line in lines) Output.Line("  " + line);
            Output.Line(some
                ? $"  {name} replicates on from {sourceName} from where it was: what changed in the copied tables since is sent again and decided by version" +
                  (others.Count > 0 ? $"; from {string.Join(", ", others)} from the beginning (what it had from there is decided again)." : ".")
                : $"  {name} now replicates from {sourceName} from the copy's snapshot" +
                  (others.Count > 0 ? $", and from {string.Join(", ", others)} from the beginning (what it had from there is decided again)." : "."));
        }
        // A running relay's pairs into the targets waited while the copy ran (PairProgress.GuardSql); kicked, they try
        // again now and read their new positions.
        if (await RelayProcess.FindAsync(ct) is not { } relay)
            Output.Line("Start replicating with: ferry start");
        else if (!relay.Starting && await KickAsync(relay, sync.Name, ct))
            Output.Line($"The relay's pairs into {string.Join(", ", targets)} go on from the copy now.");
        else
            Output.Line($"The relay's pairs into {string.Join(", ", targets)} go on from the copy at their next attempt " +
                        $"(within {Defaults.MaxBackoff.TotalSeconds:F0} s).");
        return 0;
    }

    private static async Task<bool> KickAsync(RelayProcess relay, string sync, CancellationToken ct)
    {
        try
        {
            return (await relay.SendAsync(HttpMethod.Post, "/kick?sync=" + Uri.EscapeDataString(sync), ct)).Status < 400;
        }
        catch (FerryException)
        {
            return false; // a relay that does not answer: its pairs still try again after their backoff
        }
    }

    /// <summary>
    /// One copy, mirrored in the control store until it is done, with its progress as it goes, so that `ferry status`
    /// shows a copy running, or one that was killed, interrupted or gave up, and how to finish it. Interrupted (Ctrl-C,
    /// SIGTERM: <paramref name="ct"/> cancelled), whatever the statement cut short says, it ends with
    /// <see cref="InterruptedException"/>: what was done and <paramref name="resume"/>, the command that goes on.
    /// </summary>
    internal static async Task<List<string>> RecordedAsync(Store store, string sync, string source, string target,
        ProgressDisplay display, string resume, Func<IProgress<TableProgress>, Task<List<string>>> copy, CancellationToken ct)
    {
        // Two copies into one target would write each other's slices twice and move one cursor between them.
        if (await store.BeginCopyAsync(sync, source, target, RelayProcess.IsOtherFerry, ct) is { } running)
            throw new FerryException($"A copy for sync {sync} into {target} is already running (pid {running.Pid}, from {running.Source}). " +
                                     "Wait for it to finish (ferry status shows it), or stop that process first: run again, a copy resumes " +
                                     "where the last one stopped.");
        var recorder = new CopyProgressRecorder(store, sync, target, display);
        try
        {
            var lines = await copy(recorder);
            await recorder.FlushAsync();
            await store.EndCopyAsync(sync, target, CancellationToken.None);
            return lines;
        }
        catch (Exception) when (ct.IsCancellationRequested)
        {
            // The signal cancels the statement in flight (PostgreSQL's "canceling statement", a COPY failed, a
            // connection closed under it): none of that is news to whoever pressed Ctrl-C. The slice in flight rolls
            // back; the cursor committed with the last slice is where the next run resumes.
            await recorder.FlushAsync();
            await store.CopyFailedAsync(sync, target, "interrupted", CancellationToken.None);
            throw new InterruptedException($"interrupted: the copy into {target} from {source} stopped {display.WhereStopped()}. " +
                                           "What it committed stays, and the copy resumes after it: " + resume);
        }
        catch (Exception e)
        {
            await recorder.FlushAsync();
            await store.CopyFailedAsync(sync, target, e is OperationCanceledException ? "interrupted" : e.Message, CancellationToken.None);
            throw;
        }
    }

    /// <summary>
    /// Only a database that nothing reads from: the copy writes no capture, so what it replaces would never reach a
    /// database fed from this one, and a master's own changes not yet sent would be overwritten.
    /// </summary>
    internal static void CheckTarget(string name, string syncName, DbGroup group, IEnumerable<(Sync Sync, DbGroup Group)> all)
    {
        if (group.Members.FirstOrDefault(m => m.Database == name) is not { } member)
            throw new UsageException($"Database {name} is not in sync {syncName}: its members are " +
                                     $"{string.Join(", ", group.Members.Select(m => m.Database))}.");
        if (member.Role != Role.Target)
            throw new FerryException($"{name} is a source of sync {syncName}: a copy would overwrite its own changes that have not " +
                                     $"reached the other databases yet. Instead, let the pairs into it read from the beginning " +
                                     $"(on {name}: DELETE FROM ferry.progress WHERE sync_name = '{syncName}'; a running relay's pairs notice " +
                                     $"and start over), then find and repair what still differs: ferry compare {syncName} repair=ANOTHER_SOURCE.");
        if (all.Where(s => s.Group.Sources.Contains(name)).Select(s => s.Sync.Name).FirstOrDefault() is { } feeding)
            throw new FerryException($"{name} is a source of sync {feeding}: a copy records no changes there, so the " +
                                     $"databases it feeds would not follow. Copy each of them from the same source as well, after removing sync {feeding}.");
    }
}
