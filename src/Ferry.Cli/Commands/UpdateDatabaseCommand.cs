using Ferry.ControlStore;
using Ferry.Postgres;
using Npgsql;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry update database NAME key=value ...`: a database that moved (a new host, port, user, password or TLS setting)
/// keeps its name, so every dbgroup and sync that uses it stays as it is. The new address must reach the same database
/// — the same ferry node id in <c>ferry.meta</c> — or the pairs' positions, which are that database's snapshots, would
/// be read against another database's transactions.
/// </summary>
public static class UpdateDatabaseCommand
{
    public static async Task<int> UpdateAsync(BucardoArguments args, CancellationToken ct)
    {
        var replaced = args.Get("replaced");
        var keys = DatabaseKeys.Parse(args, "update database", "replaced");
        if (args.Words.Count != 1) throw new UsageException("Expected: ferry update database NAME key=value ... (host=, port=, user=, pass=, ...)");
        var name = args.Words[0];
        if (replaced is not (null or "yes"))
            throw new UsageException($"replaced= takes only yes (the database was restored or replaced on purpose), not '{replaced}'.");
        if (keys.Settings.Count == 0 && !keys.PasswordGiven)
            throw new UsageException($"Nothing to change: ferry update database {name} host=... port=... (keys: {DatabaseKeys.Known}).");
        using var store = await Store.OpenAsync(Defaults.StorePath, ct);
        var old = await store.GetDatabaseAsync(name, ct);
        // key= (empty) removes an optional key, back to its default; the others keep their values.
        var settings = new Dictionary<string, string>(old.Settings);
        foreach (var (key, value) in keys.Settings)
            if (value.Length == 0 && key is not ("dbname" or "host" or "user")) settings.Remove(key);
            else settings[key] = value;
        ConnectionSettings.Validate(settings);
        var password = keys.PasswordGiven
            ? (keys.Password is { Length: 0 } ? null : DatabaseKeys.ReadPassword(keys.Password, name, settings))
            : old.Password;
        var db = new Database(name, settings, password);

        string? nodeId;
        try
        {
            // Read only: a link failure reads again. The old address is probed once, briefly (below): it is often gone.
            nodeId = await Output.Retry().RunAsync(db, async token =>
            {
                await using var c = await Connect.OpenAsync(db, token, "ferry update database");
                await AddCommands.RefuseMissingGrantsAsync(c, db, "updated", token);
                return await NodeIdAsync(c, token);
            }, ct);
        }
        catch (NpgsqlException e)
        {
            throw new FerryException($"Database {name} was not updated: ferry cannot connect to {db.Describe()}: " +
                                     $"{(e is PostgresException p ? p.MessageText : e.Message).TrimEnd('.')}. Check the values and run the command again.");
        }
        var known = replaced is null ? await KnownNodeIdAsync(store, old, ct) : null;
        if (known is not null && known != nodeId)
            throw new FerryException(
                $"Database {name} was not updated: {db.Describe()} is not the database ferry knew as {name} (its ferry node id is " +
                $"{nodeId ?? "missing: ferry was never installed there"}, not {known}). If it was restored from a backup or replaced " +
                $"on purpose, run this command again with replaced=yes, then re-copy it from a source for each of its syncs: " +
                $"ferry copy SYNC to={name} from=SOURCE");
        await CaptureSwitch.RunAsync(store, old, db, ct);
        await store.UpdateDatabaseAsync(db, ct);
        // A database that is only a target is known by no other: with its old address gone there is nothing to compare.
        if (replaced is null && known is null && nodeId is not null)
            Output.Line($"Ferry could not confirm that this is the database it knew as {name}: the old address does not answer " +
                        "and no other database recorded its node id. If it was restored or replaced, re-copy it: " +
                        $"ferry copy SYNC to={name} from=SOURCE");
        Output.Line($"Updated database {db.Describe()} (was {old.Describe()}); its dbgroups and syncs are unchanged.");
        if (replaced is not null)
            Output.Line($"Before its pairs run again, re-copy it for each of its syncs: ferry copy SYNC to={name} from=SOURCE");
        await RelayCommands.ReloadIfRunningAsync(ct);
        await CaptureSwitch.DropSlotAsync(old, db, ct);
        return 0;
    }

    private static async Task<string?> NodeIdAsync(NpgsqlConnection c, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_catalog.to_regclass('ferry.meta') IS NOT NULL", c);
        if (await cmd.ExecuteScalarAsync(ct) is not true) return null;
        await using var read = new NpgsqlCommand("SELECT value FROM ferry.meta WHERE key = 'node_id'", c);
        return await read.ExecuteScalarAsync(ct) as string;
    }

    /// <summary>
    /// The node id ferry knew: from the old address if it still answers, or else from the positions other databases
    /// keep of it as a source. Null when ferry never installed or read anything there: then nothing can mix up.
    /// </summary>
    private static async Task<string?> KnownNodeIdAsync(Store store, Database old, CancellationToken ct)
    {
        var quick = old with { Settings = new Dictionary<string, string>(old.Settings) { ["connect_timeout"] = "3" } };
        try
        {
            await using var c = await Connect.OpenAsync(quick, ct, "ferry update database");
            return await NodeIdAsync(c, ct);
        }
        catch (Exception e) when (e is NpgsqlException or FerryException)
        {
            // The old address is gone, which is why it is being changed: ask the databases it fed.
        }
        var peers = (await store.ListSyncGroupsAsync(ct)).Where(s => s.Group.Members.Any(m => m.Database == old.Name))
            .SelectMany(s => s.Group.Members.Select(m => m.Database)).Where(d => d != old.Name).Distinct();
        foreach (var peer in peers)
        {
            try
            {
                await using var c = await Connect.OpenAsync(await store.GetDatabaseAsync(peer, ct), ct, "ferry update database");
                await using var cmd = new NpgsqlCommand(
                    "SELECT source_node_id FROM ferry.progress WHERE source_name = $1 AND source_node_id IS NOT NULL LIMIT 1", c);
                cmd.Parameters.AddWithValue(old.Name);
                if (await cmd.ExecuteScalarAsync(ct) is string id) return id;
            }
            catch (Exception e) when (e is NpgsqlException or FerryException)
            {
                // That peer is away or has no ferry schema: another may know.
            }
        }
        return null;
    }
}
