using Ferry.ControlStore;
using Ferry.Install;
using Ferry.Resolve;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry add sync NAME herd=H dbs=G [conflict_strategy=latest] [status=active]`. Checks every database first and
/// changes nothing unless all is well; then installs the capture everywhere and records the sync.
/// </summary>
public static class AddSyncCommand
{
    // Bucardo sync options that make no difference to ferry: accepted so Bucardo scripts run unchanged.
    internal static readonly string[] Harmless =
        ["autokick", "checktime", "stayalive", "kidsalive", "ping", "strict_checking", "rebuild_index", "lifetime",
         "maxkicks", "analyze_after_copy", "vacuum_after_copy", "priority", "makedelta"];

    public static async Task<int> RunAsync(Store store, BucardoArguments args, CancellationToken ct)
    {
        var name = AddCommands.Single(args, "sync NAME herd=H dbs=G");
        Names.Check(name, "sync");
        var herdName = args.Get("herd", "relgroup");
        var tables = args.Get("tables", "table");
        var dbs = args.Get("dbs", "dbgroup");
        var ruleText = args.Get("conflict_strategy", "conflict");
        var status = (args.Get("status") ?? "active").ToLowerInvariant();
        var onetimecopy = args.Get("onetimecopy");
        var display = ProgressDisplay.FromArguments(args);
        foreach (var h in Harmless) args.Get(h);
        // A misspelt key (dbz=, heard=) is the likeliest mistake: name it before complaining that dbs= is missing.
        args.RejectUnknown("add sync");
        if (dbs is null) throw new UsageException($"Which databases? ferry add sync {name} herd=H dbs=G");
        if (herdName is null && tables is null) throw new UsageException($"Which tables? ferry add sync {name} herd=H dbs=G");
        var rule = ConflictRules.Parse(ruleText ?? "latest");
        if (status is not ("active" or "inactive"))
            throw new UsageException($"status must be active or inactive, not '{status}'.");
        if (onetimecopy is not (null or "0" or "1" or "2"))
            throw new UsageException($"onetimecopy takes 0 (no copy), 1 (replace the targets' rows with the first source's) or " +
                                     $"2 (fill only the targets' empty tables), not '{onetimecopy}'.");
        if (await store.FindSyncAsync(name, ct) is not null)
            throw new FerryException($"Sync '{name}' already exists. Remove it first: ferry remove sync {name}");

        // herd= names a herd; tables= builds one named after the sync (Bucardo's shortcut).
        Herd herd;
        var newHerd = false;
        if (tables is not null)
        {
            herdName ??= name;
            Names.Check(herdName, "herd");
            herd = new Herd(herdName, tables.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(t => TableName.Parse(t)).Distinct().ToList());
            if (herd.Tables.Count == 0) throw new UsageException($"tables= is empty: ferry add sync {name} tables=t1,t2 dbs=G");
            // Adding to a herd another sync already replicates would change that sync behind its back.
            if (await store.FindHerdAsync(herdName, ct) is { } existing)
            {
                if (!existing.Tables.Order().SequenceEqual(herd.Tables.Order()))
                    throw new FerryException($"Herd {herdName} already exists with other tables ({string.Join(", ", existing.Tables)}). " +
                                             $"Use herd={herdName} without tables=, or another herd= name.");
            }
            else
            {
                newHerd = true;
            }
        }
        else
        {
            herd = await store.GetHerdAsync(herdName!, ct);
        }
        if (herd.Tables.Count == 0) throw new FerryException($"Herd {herd.Name} has no tables: ferry add all tables herd={herd.Name}");

        // dbs=G names a dbgroup; dbs=a:source,b:target builds one named after the sync.
        DbGroup group;
        var inlineGroup = dbs.Contains(':', StringComparison.Ordinal) || dbs.Contains(',', StringComparison.Ordinal);
        if (inlineGroup)
        {
            group = new DbGroup(name, AddCommands.ParseMembers(name, [dbs]));
            if (await store.FindDbGroupAsync(name, ct) is not null)
                throw new FerryException($"A dbgroup named {name} already exists; dbs=DB:ROLE,... would create another. " +
                                         $"Use dbs={name}, or give the sync another name.");
        }
        else
        {
            group = await store.GetDbGroupAsync(dbs, ct);
        }
        var databases = new List<Database>();
        foreach (var m in group.Members) databases.Add(await store.GetDatabaseAsync(m.Database, ct));
        if (group.Members.Count < 2) throw new FerryException($"Dbgroup {group.Name} needs at least two databases to sync.");

        var sync = new Sync(name, herd.Name, group.Name, rule, status == "active");
        if (onetimecopy is "1" or "2")
        {
            var existing = await store.ListSyncGroupsAsync(ct);
            foreach (var target in group.Targets) CopyCommand.CheckTarget(target, name, group, existing);
        }
        Output.Line($"Checking {databases.Count} databases for sync {name} ({herd.Tables.Count} table{(herd.Tables.Count == 1 ? "" : "s")}" +
                    (herd.Sequences.Count == 0 ? "" : $", {herd.Sequences.Count} sequence{(herd.Sequences.Count == 1 ? "" : "s")}") + ")...");
        // Every database some pair writes to has its sequences moved forward (UPDATE); a lone source is only read.
        var sequenceTargets = Sync.PairsOf(sync, group).Select(p => p.Target).ToHashSet();
        // Every database step below retries a failing link (Postgres/LinkRetry); the sync is recorded last, so a command
        // that gives up leaves it unadded, and running it again installs (idempotently) and copies (resuming) the rest.
        var retry = Output.Retry();
        var problems = await SyncInstaller.CheckAsync(databases, herd, sequenceTargets, Sync.PairsOf(sync, group), retry, ct);
        if (problems.Count > 0)
            throw new FerryException($"Sync {name} was not added; nothing was changed:" + Environment.NewLine + "  " +
                                     string.Join(Environment.NewLine + "  ", problems));
        // Capture triggers only where some pair reads, in this sync or another: a database that is only ever a target
        // records nothing anyone reads, and its triggers would tax every row ferry writes there.
        var others = await store.ListSyncGroupsAsync(ct);
        var capturing = others.SelectMany(o => o.Group.Sources).Concat(group.Sources).ToHashSet();
        await SyncInstaller.InstallAsync(databases, herd, capturing, retry, ct);
        if (onetimecopy is "1" or "2") await CopyAsync(store, sync, group, databases, herd, others, replace: onetimecopy == "1", display, ct);
        if (newHerd) await store.AddToHerdAsync(herd.Name, herd.Tables, ct);
        if (inlineGroup) await store.AddDbGroupAsync(group, ct);
        await store.AddSyncAsync(sync, ct);
        Output.Line($"Added sync {name}: herd {herd.Name} over dbgroup {group.Name} " +
                    $"({string.Join(", ", group.Members.Select(m => $"{m.Database}:{m.Role.ToString().ToLowerInvariant()}"))}), " +
                    $"conflict_strategy={rule.Name()}. Capture installed on {string.Join(", ", group.Members.Where(m => capturing.Contains(m.Database)).Select(m => m.Database))}.");
        if (herd.Sequences.Count > 0)
            Output.Line($"Sequences {string.Join(", ", herd.Sequences)} are carried forward from each source to the other " +
                        "databases: never back, each keeping its own INCREMENT and interleave.");
        await PrintSequenceAdviceAsync(group, databases, herd, retry, ct);
        var plainAfter = PlainTargets.Of([.. others, (sync, group)]);
        foreach (var db in PlainTargets.Of(others).Where(d => !plainAfter.Contains(d)).Order())
            Output.Line($"{db} was a replica of one master, and kept no row versions for what it received. From now on it " +
                        "keeps them; for the rows it holds already, conflicts may be decided differently there than on the " +
                        $"other databases. Re-copy {db}'s tables from a master before its first changes flow (pg_dump --data-only).");
        await RelayCommands.ReloadIfRunningAsync(ct);
        return 0;
    }

    /// <summary>
    /// Bucardo's onetimecopy: each target of the group is filled from the first source, in one snapshot that becomes
    /// its pair's position (Copy/OneTimeCopy). Before the sync is recorded: a copy that fails leaves it unadded, and
    /// the command can simply be run again.
    /// </summary>
    private static async Task CopyAsync(Store store, Sync sync, DbGroup group, List<Database> databases, Herd herd,
        List<(Sync Sync, DbGroup Group)> others, bool replace, ProgressDisplay display, CancellationToken ct)
    {
        var source = databases.First(d => d.Name == group.Sources.First());
        var plain = PlainTargets.Of([.. others, (sync, group)]);
        var targets = group.Targets.ToList();
        if (targets.Count == 0)
        {
            Output.Line("onetimecopy: the group has no target (the sources are expected to hold the same rows already); nothing copied.");
            return;
        }
        foreach (var name in targets)
        {
            Output.Line($"onetimecopy: filling {name} from {source.Name}...");
            // The sync is recorded only after its copies: the same command again resumes them.
            var lines = await CopyCommand.RecordedAsync(store, sync.Name, source.Name, name, display, SameCommandAgain(),
                progress => Copy.ResumingCopy.RunAsync(source, databases.First(d => d.Name == name), sync.Name, herd.Tables,
                    targetKeepsVersions: !plain.Contains(name), replace, restartFrom: [], Output.Line, ct, progress), ct);
            foreach (var line in lines) Output.Line("  " + line);
        }
    }

    /// <summary>This very command line, quoted for a POSIX shell.</summary>
    private static string SameCommandAgain() =>
        "ferry " + string.Join(" ", Environment.GetCommandLineArgs().Skip(1).Select(a =>
            a.Length > 0 && a.All(c => char.IsAsciiLetterOrDigit(c) || "_-.,:=/@+%".Contains(c, StringComparison.Ordinal))
                ? a : "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'"));

    /// <summary>
    /// Several masters drawing keys from their own sequences would hand out the same values; interleaving needs the
    /// sequences' owner, so ferry prints the statements rather than running them.
    /// </summary>
    private static async Task PrintSequenceAdviceAsync(DbGroup group, List<Database> databases, Herd herd, Postgres.LinkRetry retry,
        CancellationToken ct)
    {
        var sources = group.Sources.Select(n => databases.First(d => d.Name == n)).ToList();
        var advice = await SequenceAdvice.AdviseAsync(sources, herd, retry, ct);
        if (advice.Count == 0) return;
        Output.Line($"This sync has {sources.Count} sources and sequences that do not interleave (keys drawn from sequences, or " +
                    "sequences of the herd): each source must hand out its own values, or every insert becomes a conflict. " +
                    "Run, as the owner of each sequence:");
        foreach (var db in advice.GroupBy(a => a.Database))
        {
            Output.Line($"  -- on {db.Key}:");
            foreach (var (_, sql) in db) Output.Line("  " + sql);
        }
    }
}
