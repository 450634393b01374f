using Ferry.ControlStore;

namespace Ferry.Cli.Commands;

/// <summary>`ferry list databases | dbgroups | herds | tables | sequences | syncs | all`.</summary>
public static class ListCommands
{
    public static async Task<int> RunAsync(BucardoArguments args, CancellationToken ct)
    {
        args.RejectUnknown("list");
        var noun = args.Words.FirstOrDefault()?.ToLowerInvariant() ?? "all";
        if (args.Words.Count > 1)
            throw new UsageException($"List one kind at a time, not '{string.Join(" ", args.Words)}': " +
                                     "ferry list databases|dbgroups|herds|tables|sequences|syncs|all");
        using var store = await Store.OpenAsync(Defaults.StorePath, ct);
        switch (noun)
        {
            case "databases" or "database" or "dbs" or "db":
                await DatabasesAsync(store, ct);
                break;
            case "dbgroups" or "dbgroup":
                Output.Table(["dbgroup", "databases"], (await store.ListDbGroupsAsync(ct)).Select(g => new[]
                {
                    g.Name, string.Join(", ", g.Members.Select(m => $"{m.Database}:{m.Role.ToString().ToLowerInvariant()}")),
                }));
                break;
            case "herds" or "herd" or "relgroups" or "relgroup":
                Output.Table(["herd", "tables", "sequences"], (await store.ListHerdsAsync(ct)).Select(h => new[]
                {
                    h.Name, string.Join(", ", h.Tables), string.Join(", ", h.Sequences),
                }));
                break;
            case "tables" or "table":
                Output.Table(["table", "herd", "conflict_strategy"], (await store.ListHerdsAsync(ct))
                    .SelectMany(h => h.Tables.Select(t => new[]
                    {
                        t.ToString(), h.Name, h.Rules.TryGetValue(t, out var rule) ? rule.ToString().ToLowerInvariant() : "(sync's)",
                    })));
                break;
            case "sequences" or "sequence":
                Output.Table(["sequence", "herd"], (await store.ListHerdsAsync(ct))
                    .SelectMany(h => h.Sequences.Select(q => new[] { q.ToString(), h.Name })));
                break;
            case "syncs" or "sync":
                Output.Table(["sync", "herd", "dbgroup", "conflict_strategy", "status"], (await store.ListSyncsAsync(ct)).Select(s => new[]
                {
                    s.Name, s.Herd, s.DbGroup, s.ConflictRule.ToString().ToLowerInvariant(), s.Active ? "active" : "inactive",
                }));
                break;
            case "all":
                foreach (var n in new[] { "databases", "dbgroups", "herds", "syncs" })
                {
                    Output.Line($"== {n}");
                    await RunAsync(new BucardoArguments([n]), ct);
                    Output.Line();
                }
                break;
            default:
                throw new UsageException($"Cannot list '{noun}': use databases, dbgroups, herds, tables, sequences, syncs or all.");
        }
        return 0;
    }

    private static async Task DatabasesAsync(Store store, CancellationToken ct) =>
        Output.Table(["database", "dbname", "host", "port", "user", "password"], (await store.ListDatabasesAsync(ct)).Select(d => new[]
        {
            d.Name, d.DbName, d.Host, d.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), d.User,
            d.Password is null ? (d.Settings.ContainsKey("passfile") ? "passfile" : "pgpass/env") : "stored",
        }));
}
