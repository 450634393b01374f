using Ferry.Compare;
using Ferry.ControlStore;
using Ferry.Install;
using Ferry.Postgres;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry compare SYNC [tables=T,...] [repair=DB]`: whether every database of a sync holds the same rows, table by
/// table, and which keys differ; with repair=DB, those keys are sent again from DB (a source of the sync) as fresh
/// changes, so that every database ends up with DB's rows. Exit code 0 when all is the same, 1 when rows differ.
/// </summary>
public static class CompareCommand
{
    /// <summary>Keys listed per database and table; the counts are always complete.</summary>
    private const int KeysShown = 20;

    public static async Task<int> RunAsync(BucardoArguments args, CancellationToken ct)
    {
        var tablesText = args.Get("tables", "table");
        var repairFrom = args.Get("repair");
        var display = ProgressDisplay.FromArguments(args);
        args.RejectUnknown("compare");
        if (args.Words.Count != 1) throw new UsageException("Which sync? ferry compare SYNC [tables=T,...] [repair=DB]");
        using var store = await Store.OpenAsync(Defaults.StorePath, ct);
        var sync = await store.GetSyncAsync(args.Words[0], ct);
        var herd = await store.GetHerdAsync(sync.Herd, ct);
        var group = await store.GetDbGroupAsync(sync.DbGroup, ct);
        var tables = herd.Tables;
        if (tablesText is not null)
        {
            tables = tablesText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(t => TableName.Parse(t)).ToList();
            if (tables.FirstOrDefault(t => !herd.Tables.Contains(t)) is { } stray)
                throw new UsageException($"Table {stray} is not in herd {herd.Name} of sync {sync.Name}: it has {string.Join(", ", herd.Tables)}.");
        }
        if (repairFrom is not null && !group.Sources.Contains(repairFrom))
            throw new UsageException($"repair= names the database whose rows win, and it must be a source of sync {sync.Name} " +
                                     $"(its changes are what the relay sends): one of {string.Join(", ", group.Sources)}.");

        // The repairing source first: it is the reference every other database is compared with.
        var members = new List<Database>();
        foreach (var name in group.Members.Select(m => m.Database).OrderBy(d => d == repairFrom ? 0 : 1))
            members.Add(await store.GetDatabaseAsync(name, ct));
        // Each step reads only, or (repair) re-sends keys through the change log, which sent twice sends the same rows:
        // through a failing link it runs again on fresh connections.
        await using var connections = new ConnectionSet(members, "ferry compare", Output.Retry());
        var differ = false;
        var repaired = 0;
        var compared = 0;
        try
        {
            // Rows hidden by row-level security would be compared as absent everywhere: "the same" over rows never seen.
            await connections.RunAsync(async (live, token) =>
            {
                foreach (var (name, c) in live) await RowSecurity.ThrowIfHiddenAsync(c, name, tables, token);
                return true;
            }, ct);
            for (; compared < tables.Count; compared++)
            {
                var table = tables[compared];
                var (shape, result) = await connections.RunAsync(async (live, token) =>
                {
                    var shape = await TableCatalog.ReadAsync(live[0].Connection, table, token)
                                ?? throw new FerryException($"Table {table} does not exist in database {live[0].Name} (or ferry cannot see it).");
                    return (shape, await TableComparer.CompareAsync(live, shape, token, display, $"compare {sync.Name}",
                        compared + 1, tables.Count));
                }, ct);
                Print(result);
                if (result.Same) continue;
                differ = true;
                if (repairFrom is not null)
                {
                    var keys = result.Differences.SelectMany(d => d.Keys).DistinctBy(k => string.Join("\0", k)).ToList();
                    repaired += await connections.RunAsync((live, token) => TableComparer.RepairAsync(live[0].Connection, shape, keys, token), ct);
                }
            }
        }
        catch (Exception) when (ct.IsCancellationRequested)
        {
            // The signal cancels the query in flight; its error says nothing the user does not know. A compare only
            // reads (a repair's keys of a table go in one statement), so the tables not compared are all there is to redo.
            throw new InterruptedException($"interrupted: compared {compared} of {tables.Count} tables" +
                (compared == 0 ? "" : differ ? " (some differ, above)" : " (the same)") +
                (repaired > 0 ? $", {repaired} keys sent again from {repairFrom}" : "") + ". To compare the rest: ferry compare " +
                $"{sync.Name} tables={string.Join(",", tables.Skip(compared).Select(Quoted))}{(repairFrom is null ? "" : " repair=" + repairFrom)}");
        }
        if (repairFrom is not null && repaired > 0)
            Output.Line($"Repair: {repaired} key{(repaired == 1 ? "" : "s")} sent again from {repairFrom}: the relay carries its rows " +
                        $"(or their absence) to the other databases. When ferry status shows no lag, compare again: ferry compare {sync.Name}");
        return differ ? 1 : 0;
    }

    /// <summary>A table name as a shell word that tables= parses back to the same table.</summary>
    private static string Quoted(TableName t)
    {
        var text = t.Schema == "public" && IsPlain(t.Name) ? t.Name : IsPlain(t.Schema) && IsPlain(t.Name) ? $"{t.Schema}.{t.Name}" : t.ToString();
        return text.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or ',') ? text : "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

        static bool IsPlain(string part) => part.Length > 0 && part.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_') && !char.IsAsciiDigit(part[0]);
    }

    private static void Print(TableComparison result)
    {
        if (result.Same)
        {
            Output.Line($"{result.Table}: the same on {string.Join(", ", result.Differences.Select(d => d.Database).Prepend(result.Reference))} " +
                        $"({result.ReferenceRows} rows).");
            return;
        }
        foreach (var d in result.Differences)
        {
            if (d.Count == 0)
            {
                Output.Line($"{result.Table}: {d.Database} holds what {result.Reference} holds.");
                continue;
            }
            Output.Line($"{result.Table}: {d.Database} differs from {result.Reference} ({result.ReferenceRows} rows there): " +
                        $"{d.Missing.Count} missing, {d.Extra.Count} extra, {d.Different.Count} different.");
            foreach (var (what, keys) in new[] { ("missing", d.Missing), ("extra", d.Extra), ("different", d.Different) })
                if (keys.Count > 0)
                    Output.Line($"  {what}: {string.Join(" ", keys.Take(KeysShown).Select(k => "(" + string.Join(", ", k) + ")"))}" +
                                (keys.Count > KeysShown ? $" and {keys.Count - KeysShown} more" : ""));
        }
    }
}
