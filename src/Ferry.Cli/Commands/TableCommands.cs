using Ferry.ControlStore;
using Ferry.Install;
using Ferry.Postgres;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry remove table NAME [herd=H]` and `ferry rename table OLD NEW`: a table dropped or renamed on every
/// database stops the pairs of each sync replicating it; these let the syncs go on without it, or under its new
/// name. A running relay reloads the syncs that use the table.
/// </summary>
public static class TableCommands
{
    public static async Task<int> RemoveAsync(BucardoArguments args, CancellationToken ct)
    {
        var herdName = args.Get("herd", "relgroup");
        args.RejectUnknown("remove table");
        if (args.Words.Count != 2) throw new UsageException("ferry remove table NAME [herd=H]");
        var table = Parse(args.Words[1]);
        using var store = await Store.OpenAsync(Defaults.StorePath, ct);
        var holding = (await store.ListHerdsAsync(ct)).Where(h => h.Tables.Contains(table)).Select(h => h.Name).ToList();
        if (herdName is not null && !holding.Contains(herdName))
            throw new FerryException($"Table {table} is not in herd {herdName}" +
                                     (holding.Count > 0 ? $"; it is in {string.Join(", ", holding)}." : "."));
        var herds = herdName is null ? holding : [herdName];
        if (herds.Count == 0) throw new FerryException($"Table {table} is in no herd: there is nothing to remove. See: ferry list tables");

        var syncs = await store.ListSyncsAsync(ct);
        var affected = syncs.Where(s => herds.Contains(s.Herd)).ToList();
        // Where another sync still captures the table (its herd keeps it, the database is its source), its triggers stay.
        var stillCaptured = new HashSet<string>();
        foreach (var s in syncs.Where(s => !herds.Contains(s.Herd)))
            if ((await store.GetHerdAsync(s.Herd, ct)).Tables.Contains(table))
                foreach (var m in (await store.GetDbGroupAsync(s.DbGroup, ct)).Members.Where(m => m.Role == Role.Source))
                    stillCaptured.Add(m.Database);
        // Each database's drops are IF EXISTS and forgetting chunk cursors again is harmless: a link failure runs them again.
        var retry = Output.Retry();
        foreach (var db in await DatabasesAsync(store, affected, ct))
        {
            try
            {
                await retry.RunAsync(db, async token =>
                {
                    await using var c = await Connect.OpenAsync(db, token, "ferry remove table");
                    // A dropped table took its triggers with it; its functions (and the row versions, kept as for remove
                    // sync) are ferry's own.
                    if (!stillCaptured.Contains(db.Name)) await NodeInstaller.RemoveCaptureAsync(c, table, token);
                    await TableRename.ForgetChunksAsync(c, affected.Select(s => s.Name).ToList(), token);
                }, ct);
            }
            catch (Exception e) when (e is FerryException or Npgsql.PostgresException)
            {
                var names = new Capture.CaptureNames(table);
                Output.Error($"Could not remove the capture of {table} from {db.Name}: {e.Message.TrimEnd('.')}. If the table " +
                             $"is still there, its triggers keep recording changes nobody reads. When {db.Name} is reachable, run in " +
                             $"{db.DbName} as {db.User}: DROP FUNCTION IF EXISTS {names.Function}() CASCADE; " +
                             $"DROP FUNCTION IF EXISTS {names.TruncateFunction}() CASCADE;");
            }
        }
        await store.RemoveFromHerdsAsync(herds, table, ct);
        Output.Line($"Removed table {table} from herd{(herds.Count == 1 ? "" : "s")} {string.Join(", ", herds)}.");
        if (affected.Count > 0)
        {
            Output.Line($"Sync{(affected.Count == 1 ? "" : "s")} {string.Join(", ", affected.Select(s => s.Name))} go on without it.");
            await RelayCommands.ReloadIfRunningAsync(ct);
        }
        return 0;
    }

    public static async Task<int> RenameAsync(BucardoArguments args, CancellationToken ct)
    {
        args.RejectUnknown("rename");
        const string usage = "ferry rename table OLD NEW  (after renaming the table on every database)";
        if (args.Words.Count != 3 || !args.Words[0].Equals("table", StringComparison.OrdinalIgnoreCase)) throw new UsageException(usage);
        var (from, to) = (Parse(args.Words[1]), Parse(args.Words[2]));
        if (from == to) throw new UsageException($"{from} is already its name. {usage}");
        using var store = await Store.OpenAsync(Defaults.StorePath, ct);
        var herds = await store.ListHerdsAsync(ct);
        if (!herds.Any(h => h.Tables.Contains(from)))
            throw new FerryException($"Table {from} is in no herd: there is nothing to rename. See: ferry list tables");
        if (herds.FirstOrDefault(h => h.Tables.Contains(from) && h.Tables.Contains(to)) is { } both)
            throw new FerryException($"Herd {both.Name} holds both {from} and {to}. Remove one first: ferry remove table ... herd={both.Name}");
        var holding = herds.Where(h => h.Tables.Contains(from)).Select(h => h.Name).ToHashSet();
        var affected = (await store.ListSyncsAsync(ct)).Where(s => holding.Contains(s.Herd)).ToList();
        var databases = await DatabasesAsync(store, affected, ct);

        // Every database first, changing nothing: a rename made on some databases only cannot be followed yet.
        var problems = new List<string>();
        // The checks read only, and each database's rename is one transaction that, run again, finds it done: a link
        // failure runs either again.
        var retry = Output.Retry();
        foreach (var db in databases)
        {
            try
            {
                if (await retry.RunAsync(db, async token =>
                    {
                        await using var c = await Connect.OpenAsync(db, token, "ferry rename table");
                        return await TableRename.ProblemAsync(c, db.Name, from, to, token);
                    }, ct) is { } problem)
                    problems.Add(problem);
            }
            catch (FerryException e)
            {
                problems.Add(e.Message);
            }
        }
        if (problems.Count > 0)
            throw new FerryException($"Table {from} was not renamed; nothing was changed:" + Environment.NewLine + "  " +
                                     string.Join(Environment.NewLine + "  ", problems));
        var syncNames = affected.Select(s => s.Name).ToList();
        foreach (var db in databases)
            await retry.RunAsync(db, async token =>
            {
                await using var c = await Connect.OpenAsync(db, token, "ferry rename table");
                await TableRename.RenameAsync(c, from, to, syncNames, token);
            }, ct);
        await store.RenameInHerdsAsync(from, to, ct);
        Output.Line($"Renamed table {from} to {to} in herd{(holding.Count == 1 ? "" : "s")} {string.Join(", ", holding)}" +
                    (databases.Count > 0 ? $", and ferry's row versions and change log for it on {string.Join(", ", databases.Select(d => d.Name))}." : "."));
        if (affected.Count > 0)
        {
            Output.Line($"Sync{(affected.Count == 1 ? "" : "s")} {string.Join(", ", syncNames)} replicate it under its new name.");
            await RelayCommands.ReloadIfRunningAsync(ct);
        }
        return 0;
    }

    private static async Task<List<Database>> DatabasesAsync(Store store, IEnumerable<Sync> syncs, CancellationToken ct)
    {
        var names = new List<string>();
        foreach (var s in syncs)
            names.AddRange((await store.GetDbGroupAsync(s.DbGroup, ct)).Members.Select(m => m.Database));
        var databases = new List<Database>();
        foreach (var n in names.Distinct()) databases.Add(await store.GetDatabaseAsync(n, ct));
        return databases;
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
}
