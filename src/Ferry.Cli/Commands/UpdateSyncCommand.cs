using Ferry.ControlStore;
using Ferry.Resolve;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry update sync S key=value ...`, `ferry pause S` and `ferry resume S`: what may change of a sync in place.
/// Only the rule and the status change: neither touches what is installed in the databases. A running relay reloads,
/// which starts, stops or restarts this sync's pairs only (stateless: they resume from the progress kept in the targets).
/// </summary>
public static class UpdateSyncCommand
{
    // Keys add sync takes whose change would need capture installed or removed, or rows copied: refused with the way.
    private static readonly Dictionary<string, string> Refused = new(StringComparer.OrdinalIgnoreCase)
    {
        ["herd"] = "the herd decides where capture is installed. Add tables to the sync's herd (ferry add table T herd=H, then " +
                   "ferry upgrade) or remove them (ferry remove table T), or remove the sync and add it again",
        ["relgroup"] = "see herd=",
        ["tables"] = "add tables to the sync's herd (ferry add table T herd=H, then ferry upgrade) or remove them (ferry remove table T)",
        ["table"] = "see tables=",
        ["dbs"] = "the dbgroup decides the pairs and where capture is installed. Remove the sync and add it again with the new dbgroup",
        ["dbgroup"] = "see dbs=",
        ["onetimecopy"] = "a copy of a running sync is its own verb: ferry copy SYNC to=TARGET",
    };

    public static async Task<int> UpdateAsync(BucardoArguments args, CancellationToken ct)
    {
        if (args.Words.Count != 1) throw new UsageException("Expected: ferry update sync NAME [status=active|inactive] [conflict_strategy=RULE]");
        var name = args.Words[0];
        foreach (var key in args.Pairs.Keys)
            if (Refused.TryGetValue(key, out var why))
                throw new UsageException($"update sync cannot change {key}=: {why}.");
        var ruleText = args.Get("conflict_strategy", "conflict");
        var status = args.Get("status")?.ToLowerInvariant();
        var harmless = AddSyncCommand.Harmless.Where(h => args.Get(h) is not null).ToList();
        args.RejectUnknown("update sync");
        if (harmless.Count > 0 && ruleText is null && status is null)
        {
            Output.Line($"{string.Join("=, ", harmless)}= make{(harmless.Count == 1 ? "s" : "")} no difference to ferry; nothing changed.");
            return 0;
        }
        if (ruleText is null && status is null)
            throw new UsageException($"Nothing to change: ferry update sync {name} status=active|inactive conflict_strategy=latest|source|skip|abort");
        if (status is not (null or "active" or "inactive"))
            throw new UsageException($"status must be active or inactive, not '{status}'.");
        ConflictRule? rule = ruleText is null ? null : ConflictRules.Parse(ruleText);
        return await ChangeAsync(name, rule, status is null ? null : status == "active", ct);
    }

    public static Task<int> PauseAsync(BucardoArguments args, CancellationToken ct) => SetActiveAsync(args, "pause", false, ct);

    public static Task<int> ResumeAsync(BucardoArguments args, CancellationToken ct) => SetActiveAsync(args, "resume", true, ct);

    private static async Task<int> SetActiveAsync(BucardoArguments args, string verb, bool active, CancellationToken ct)
    {
        args.RejectUnknown(verb);
        if (args.Words.Count != 1) throw new UsageException($"Which sync? ferry {verb} SYNC");
        return await ChangeAsync(args.Words[0], null, active, ct);
    }

    private static async Task<int> ChangeAsync(string name, ConflictRule? rule, bool? active, CancellationToken ct)
    {
        Sync before, after;
        using (var store = await Store.OpenAsync(Defaults.StorePath, ct))
        {
            before = await store.GetSyncAsync(name, ct);
            after = before with { ConflictRule = rule ?? before.ConflictRule, Active = active ?? before.Active };
            if (after == before)
            {
                Output.Line($"Sync {name} is already {Describe(after)}; nothing changed.");
                return 0;
            }
            await store.UpdateSyncAsync(after, ct);
        }
        if (before.Active != after.Active)
            Output.Line(after.Active
                ? $"Resumed sync {name}: its pairs carry on from where they stopped, with every change made meanwhile."
                : $"Paused sync {name}: its changes wait in each source (nothing is lost) until: ferry resume {name}");
        if (before.ConflictRule != after.ConflictRule)
            Output.Line($"Sync {name} now decides conflicts by conflict_strategy={after.ConflictRule.Name()} (was " +
                        $"{before.ConflictRule.Name()}); conflicts already decided stay as they were.");
        await RelayCommands.ReloadIfRunningAsync(ct);
        return 0;
    }

    private static string Describe(Sync s) => $"{(s.Active ? "active" : "inactive")} with conflict_strategy={s.ConflictRule.Name()}";
}
