using Ferry.ControlStore;
using Ferry.Install;
using Ferry.Postgres;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry add sequence NAME … herd=H [db=NAME]` and `ferry add all sequences herd=H [db=NAME] [schema=S]`, as
/// Bucardo's `add sequence`. Like tables, sequences are looked up in the reference database (db=, or the first one
/// added) and the herd is made if it does not exist yet; `ferry add sync` checks them on every database. A herd
/// that a sync already replicates is checked on that sync's databases here, since no `add sync` will run again.
/// </summary>
public static class AddSequenceCommands
{
    public static async Task<int> AddAsync(Store store, BucardoArguments args, CancellationToken ct)
    {
        var herd = args.Get("herd", "relgroup") ?? throw new UsageException("Which herd? ferry add sequence SEQUENCE ... herd=NAME");
        Names.Check(herd, "herd");
        var dbName = args.Get("db");
        args.RejectUnknown("add sequence");
        if (args.Words.Count == 0) throw new UsageException("Which sequences? ferry add sequence SEQUENCE ... herd=NAME");
        var sequences = args.Words.SelectMany(w => w.Split(',', StringSplitOptions.RemoveEmptyEntries)).Select(Parse).Distinct().ToList();
        var db = await AddCommands.ReferenceDatabaseAsync(store, dbName, ct);
        await Output.Retry().RunAsync(db, async token =>
        {
            await using var c = await Connect.OpenAsync(db, token, "ferry add sequence");
            foreach (var s in sequences)
            {
                var lookup = await SequenceCatalog.ReadAsync(c, s, token);
                if (lookup.OtherKind is { } kind)
                    throw new FerryException($"{s} is {kind} in database {db.Name}, not a sequence. Name a sequence " +
                                             "(see them with \\ds in psql), or add a table with: ferry add table");
                if (lookup.Missing)
                    throw new FerryException($"Sequence {s} does not exist in database {db.Name} (or {db.User} cannot see it).");
            }
        }, ct);
        return await AddCheckedAsync(store, herd, sequences, $"to herd {herd}", ct);
    }

    public static async Task<int> AddAllAsync(Store store, BucardoArguments args, CancellationToken ct)
    {
        var (herd, db, schema) = await AddCommands.AddAllArgumentsAsync(store, args, "sequences", ct);
        var all = await Output.Retry().RunAsync(db, async token =>
        {
            await using var c = await Connect.OpenAsync(db, token, "ferry add all sequences");
            return await SequenceCatalog.ListAsync(c, schema, token);
        }, ct);
        // Named, not silently left out: a sequence ferry cannot read is most likely a grant not given yet.
        foreach (var (s, _) in all.Where(s => !s.Readable))
            Output.Line($"Skipped {s}: {db.User} may not read it (GRANT SELECT, UPDATE ON SEQUENCE {s} TO {Quote.Ident(db.User)}; " +
                        "then add it).");
        var readable = all.Where(s => s.Readable).Select(s => s.Sequence).ToList();
        if (all.Count == 0)
            throw new FerryException($"No sequence found in {db.Name}{(schema is null ? "" : $", schema {schema}")}.");
        if (readable.Count == 0)
            throw new FerryException($"{db.User} may read none of the sequences in {db.Name}: grant them as shown above, then run this again.");
        return await AddCheckedAsync(store, herd, readable, $"from {db.Name} to herd {herd}", ct);
    }

    /// <summary>
    /// Records the sequences once the syncs that already replicate the herd, if any, can carry them on every one of
    /// their databases; otherwise changes nothing and says what is missing where.
    /// </summary>
    private static async Task<int> AddCheckedAsync(Store store, string herd, List<TableName> sequences, string where, CancellationToken ct)
    {
        var syncs = (await store.ListSyncsAsync(ct)).Where(s => s.Herd == herd).ToList();
        foreach (var sync in syncs)
        {
            var group = await store.GetDbGroupAsync(sync.DbGroup, ct);
            var databases = new List<Database>();
            foreach (var m in group.Members) databases.Add(await store.GetDatabaseAsync(m.Database, ct));
            var targets = Sync.PairsOf(sync, group).Select(p => p.Target).ToHashSet();
            var problems = await SyncInstaller.CheckAsync(databases, new Herd(herd, []) { Sequences = sequences }, targets, Output.Retry(), ct);
            if (problems.Count > 0)
                throw new FerryException($"No sequence was added to herd {herd}: sync {sync.Name} replicates it, and cannot carry " +
                                         "them on all its databases:" + Environment.NewLine + "  " +
                                         string.Join(Environment.NewLine + "  ", problems));
        }
        var added = await store.AddSequencesToHerdAsync(herd, sequences, ct);
        Output.Line($"Added {added} sequence{(added == 1 ? "" : "s")} {where}: {string.Join(", ", sequences)}.");
        if (syncs.Count > 0 && added > 0)
        {
            var one = syncs.Count == 1;
            Output.Line($"Sync{(one ? "" : "s")} {string.Join(", ", syncs.Select(s => s.Name))} carr{(one ? "ies" : "y")} them forward.");
            await RelayCommands.ReloadIfRunningAsync(ct);
        }
        return 0;
    }

    private static TableName Parse(string text)
    {
        try
        {
            return TableName.Parse(text, kind: "sequence");
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
    }
}
