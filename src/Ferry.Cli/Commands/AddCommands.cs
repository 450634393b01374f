using Ferry.ControlStore;
using Ferry.Install;
using Ferry.Postgres;
using Ferry.Resolve;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry add database | dbgroup | herd | table | all tables | sequence | all sequences | sync`, in Bucardo's grammar.
/// </summary>
public static class AddCommands
{
    public static async Task<int> RunAsync(BucardoArguments args, CancellationToken ct)
    {
        if (args.Words.Count == 0)
            throw new UsageException("Add what? ferry add database | dbgroup | herd | table | all tables | sequence | all sequences | sync");
        var noun = args.Words[0].ToLowerInvariant();
        args.Words.RemoveAt(0);
        using var store = await Store.OpenAsync(Defaults.StorePath, ct);
        return noun switch
        {
            "database" or "db" => await AddDatabaseAsync(store, args, ct),
            "dbgroup" => await AddDbGroupAsync(store, args, ct),
            "herd" or "relgroup" => await AddHerdAsync(store, args, ct),
            "table" or "tables" => await AddTablesAsync(store, args, null, ct),
            "all" when args.Words.FirstOrDefault()?.ToLowerInvariant() == "tables" => await AddAllTablesAsync(store, args, ct),
            "sequence" or "sequences" => await AddSequenceCommands.AddAsync(store, args, ct),
            "all" when args.Words.FirstOrDefault()?.ToLowerInvariant() == "sequences" => await AddSequenceCommands.AddAllAsync(store, args, ct),
            "sync" => await AddSyncCommand.RunAsync(store, args, ct),
            _ => throw new UsageException($"Cannot add '{noun}': use database, dbgroup, herd, table, all tables, sequence, " +
                                          "all sequences or sync."),
        };
    }

    private static async Task<int> AddDatabaseAsync(Store store, BucardoArguments args, CancellationToken ct)
    {
        // The URI is a word too: take it out before counting the words.
        var (settings, password, _) = DatabaseKeys.Parse(args, "add database");
        var name = Single(args, "database NAME");
        Names.Check(name, "database");
        if (!settings.ContainsKey("dbname"))
            throw new UsageException($"Which database? ferry add database {name} dbname=... host=... user=... " +
                                     $"(or postgresql://user@host:port/dbname, or service=NAME)");
        ConnectionSettings.Validate(settings);
        password = DatabaseKeys.ReadPassword(password, name, settings);
        var db = new Database(name, settings, password);
        if (await store.FindDatabaseAsync(name, ct) is not null)
            throw new FerryException($"Database '{name}' already exists. Remove it first: ferry remove database {name}");

        // Read only, so a failing link just runs it again; the store is written once it passed.
        await Output.Retry().RunAsync(db, async token =>
        {
            await using var c = await Connect.OpenAsync(db, token, "ferry add database");
            await RefuseMissingGrantsAsync(c, db, "added", token);
        }, ct);
        await store.AddDatabaseAsync(db, ct);
        Output.Line($"Added database {db.Describe()}.");
        return 0;
    }

    /// <summary>CONNECT and CREATE (or the ferry schema's ownership): named with the GRANT that gives them.</summary>
    internal static async Task RefuseMissingGrantsAsync(Npgsql.NpgsqlConnection c, Database db, string what, CancellationToken ct)
    {
        var problems = await GrantCheck.DatabaseProblemsAsync(c, ct);
        if (problems.Count > 0)
            throw new FerryException($"Database {db.Name} was not {what}: {db.User} lacks what ferry needs in {db.DbName}. " +
                                     "As a superuser or the database owner, run:" +
                                     Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", problems) +
                                     Environment.NewLine + "then run this command again.");
    }

    private static async Task<int> AddDbGroupAsync(Store store, BucardoArguments args, CancellationToken ct)
    {
        if (args.Words.Count < 2)
            throw new UsageException("ferry add dbgroup NAME db1:source db2:source db3:target");
        var name = args.Words[0];
        Names.Check(name, "dbgroup");
        args.RejectUnknown("add dbgroup");
        // Bucardo also takes "db1 db2:target" (no role means source for the first, target after), comma-separated
        // lists, and roles spelled master/slave.
        var members = ParseMembers(name, args.Words.Skip(1));
        foreach (var m in members)
            if (await store.FindDatabaseAsync(m.Database, ct) is null)
                throw new FerryException($"Dbgroup {name} was not added: there is no database '{m.Database}'. " +
                                         $"Add it first: ferry add database {m.Database} dbname=... host=... user=...");
        if (await store.FindDbGroupAsync(name, ct) is not null)
            throw new FerryException($"Dbgroup '{name}' already exists. Remove it first: ferry remove dbgroup {name}");
        await store.AddDbGroupAsync(new DbGroup(name, members), ct);
        Output.Line($"Added dbgroup {name}: {string.Join(", ", members.Select(m => $"{m.Database} ({m.Role.ToString().ToLowerInvariant()})"))}.");
        return 0;
    }

    /// <summary>"a:source b:target", "a,b:slave": members in order, each named once, at least one source.</summary>
    internal static List<DbGroupMember> ParseMembers(string group, IEnumerable<string> words)
    {
        var members = new List<DbGroupMember>();
        foreach (var word in words.SelectMany(w => w.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            var parts = word.Split(':', 2);
            Names.Check(parts[0], "database");
            var role = parts.Length == 1
                ? (members.Count == 0 ? Role.Source : Role.Target)
                : parts[1].ToLowerInvariant() switch
                {
                    "source" or "master" => Role.Source,
                    "target" or "slave" or "replica" => Role.Target,
                    var other => throw new UsageException(
                        $"Unknown role '{other}' for database {parts[0]}: use source (or master) or target (or slave)."),
                };
            if (members.Any(m => m.Database == parts[0]))
                throw new UsageException($"Database '{parts[0]}' is listed twice in dbgroup {group}.");
            members.Add(new DbGroupMember(parts[0], role));
        }
        if (members.Count == 0)
            throw new UsageException($"Which databases? ferry add dbgroup {group} db1:source db2:target");
        if (!members.Any(m => m.Role == Role.Source))
            throw new UsageException($"Dbgroup {group} needs at least one source: mark the writable database(s) NAME:source.");
        return members;
    }

    private static async Task<int> AddHerdAsync(Store store, BucardoArguments args, CancellationToken ct)
    {
        if (args.Words.Count == 0) throw new UsageException("ferry add herd NAME [table ...]");
        var name = args.Words[0];
        Names.Check(name, "herd");
        args.Words.RemoveAt(0);
        if (args.Words.Count == 0)
        {
            args.RejectUnknown("add herd");
            await store.AddToHerdAsync(name, [], ct);
            Output.Line($"Added herd {name}.");
            return 0;
        }
        return await AddTablesAsync(store, args, name, ct);
    }

    private static async Task<int> AddTablesAsync(Store store, BucardoArguments args, string? herdName, CancellationToken ct)
    {
        var herd = herdName ?? args.Get("herd", "relgroup")
                   ?? throw new UsageException("Which herd? ferry add table TABLE ... herd=NAME");
        Names.Check(herd, "herd");
        var dbName = args.Get("db");
        var ruleText = args.Get("conflict_strategy");
        args.RejectUnknown("add table");
        if (args.Words.Count == 0) throw new UsageException("Which tables? ferry add table TABLE ... herd=NAME");
        ConflictRule? rule;
        try
        {
            rule = ruleText is null ? null : ConflictRules.Parse(ruleText);
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
        var tables = args.Words.SelectMany(w => w.Split(',', StringSplitOptions.RemoveEmptyEntries)).Select(Parse).ToList();
        var db = await ReferenceDatabaseAsync(store, dbName, ct);
        await Output.Retry().RunAsync(db, async token =>
        {
            await using var c = await Connect.OpenAsync(db, token, "ferry add table");
            foreach (var t in tables)
            {
                var shape = await TableCatalog.ReadAsync(c, t, token)
                            ?? throw new FerryException($"Table {t} does not exist in database {db.Name} (or {db.User} cannot see it).");
                if (ShapeCheck.KeyProblem(db.Name, shape) is { } problem) throw new FerryException(problem);
                if ((await TableKind.ReadAsync(c, t, token))?.Problem(db.Name) is { } kind) throw new FerryException(kind);
            }
        }, ct);
        var added = await store.AddToHerdAsync(herd, tables, ct);
        Output.Line($"Added {added} table{(added == 1 ? "" : "s")} to herd {herd}: {string.Join(", ", tables)}.");
        // Adding a table that is already there with conflict_strategy= sets that table's own rule.
        if (rule is { } r)
        {
            foreach (var t in tables) await store.SetTableRuleAsync(herd, t, r, ct);
            Output.Line($"Conflicts on {string.Join(", ", tables)} follow conflict_strategy={r.Name()}, whatever the sync's " +
                        "(a running relay picks this up on: ferry reload).");
        }
        return 0;
    }

    /// <summary>
    /// The words of `ferry add all tables|sequences herd=NAME [db=NAME] [schema=S]`: the herd, the database to read
    /// (the first added when none is named) and the schema, if one is.
    /// </summary>
    internal static async Task<(string Herd, Database Db, string? Schema)> AddAllArgumentsAsync(Store store,
        BucardoArguments args, string what, CancellationToken ct)
    {
        args.Words.RemoveAt(0);
        var herd = args.Get("herd", "relgroup");
        var dbName = args.Get("db");
        var schema = args.Get("schema", "n");
        args.RejectUnknown($"add all {what}");
        var usage = $"ferry add all {what} herd=NAME [db=NAME] [schema=S]";
        if (args.Words.Count > 0) throw new UsageException($"Unexpected '{args.Words[0]}': {usage}");
        if (herd is null) throw new UsageException($"Which herd? {usage}");
        Names.Check(herd, "herd");
        return (herd, await ReferenceDatabaseAsync(store, dbName, ct), schema);
    }

    private static async Task<int> AddAllTablesAsync(Store store, BucardoArguments args, CancellationToken ct)
    {
        var (herd, db, schema) = await AddAllArgumentsAsync(store, args, "tables", ct);
        var (all, kinds) = await Output.Retry().RunAsync(db, async token =>
        {
            await using var c = await Connect.OpenAsync(db, token, "ferry add all tables");
            var listed = await TableCatalog.ListAsync(c, schema, token);
            // Partitions are not listed (their partitioned table is); tables in an inheritance tree are skipped, each
            // named, so that one of them does not stop the rest of the herd.
            return (listed, await TableKind.ReadAsync(c, listed.Select(t => t.Table).ToList(), token));
        }, ct);
        var refused = all.Select(t => kinds.GetValueOrDefault(t.Table)?.Problem(db.Name)).ToList();
        var keyed = all.Where((t, i) => t.HasKey && refused[i] is null).Select(t => t.Table).ToList();
        foreach (var (t, _) in all.Where((t, i) => !t.HasKey && refused[i] is null))
            Output.Line($"Skipped {t}: it has no primary key (ALTER TABLE {t} ADD PRIMARY KEY (...), then add it).");
        foreach (var problem in refused.OfType<string>()) Output.Line($"Skipped: {problem}");
        if (keyed.Count == 0)
            throw new FerryException($"No table with a primary key found in {db.Name}{(schema is null ? "" : $", schema {schema}")}.");
        var added = await store.AddToHerdAsync(herd, keyed, ct);
        Output.Line($"Added {added} table{(added == 1 ? "" : "s")} from {db.Name} to herd {herd}: {string.Join(", ", keyed)}.");
        return 0;
    }

    /// <summary>db=NAME, or the first database added: Bucardo fails here once several exist; ferry does not.</summary>
    internal static async Task<Database> ReferenceDatabaseAsync(Store store, string? name, CancellationToken ct)
    {
        if (name is not null) return await store.GetDatabaseAsync(name, ct);
        return (await store.ListDatabasesAsync(ct)).FirstOrDefault()
               ?? throw new FerryException("No database yet. Add one first: ferry add database NAME dbname=... host=...");
    }

    private static TableName Parse(string text)
    {
        try
        {
            return TableName.Parse(text);
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
    }

    internal static string Single(BucardoArguments args, string usage)
    {
        if (args.Words.Count != 1) throw new UsageException($"Expected: ferry add {usage} ...");
        return args.Words[0];
    }
}
