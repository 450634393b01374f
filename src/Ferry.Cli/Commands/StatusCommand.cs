using System.Globalization;
using Ferry.ControlStore;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry status [SYNC]`: per sync its state, last good run and rows moved; per pair the lag; per database reachable
/// or its last error and since when. Read from the control store, where the relay writes as it works, so it answers
/// whether or not the relay is running.
/// </summary>
public static class StatusCommand
{
    public static async Task<int> RunAsync(BucardoArguments args, CancellationToken ct)
    {
        args.RejectUnknown("status");
        using var store = await Store.OpenAsync(Defaults.StorePath, ct);
        var relay = RelayProcess.Find();
        Output.Line(relay is null
            ? "Relay: not running; changes wait in the databases until it runs. Start it with: ferry start"
            : $"Relay: running, pid {relay.Pid}, since {relay.StartedAt.ToLocalTime():yyyy-MM-dd HH:mm:ss}, http://127.0.0.1:{relay.HttpPort}/");
        var syncs = await store.ListSyncsAsync(ct);
        if (args.Words.Count > 0)
        {
            foreach (var w in args.Words) await store.GetSyncAsync(w, ct);
            syncs = syncs.Where(s => args.Words.Contains(s.Name)).ToList();
        }
        var pairs = await store.ListPairStatusAsync(ct);
        var inv = CultureInfo.InvariantCulture;
        foreach (var sync in syncs)
        {
            var mine = pairs.Where(p => p.Sync == sync.Name).ToList();
            var state = !sync.Active ? "inactive"
                : relay is null ? "stopped"
                : mine.Any(p => p.State != "replicating") ? "degraded"
                : mine.Count == 0 ? "starting" : "good";
            var lastGood = mine.Select(p => p.LastGoodAt).Where(t => t is not null).DefaultIfEmpty(null).Min();
            Output.Line();
            Output.Line($"Sync {sync.Name}: {state}; herd {sync.Herd}, dbgroup {sync.DbGroup}, conflict_strategy " +
                        $"{sync.ConflictRule.ToString().ToLowerInvariant()}; last good run {Output.Ago(lastGood)}; " +
                        $"rows moved {mine.Sum(p => p.RowsMoved)}");
            Output.Table(["pair", "state", "lag rows", "lag s", "rows moved", "last batch", "last error"], mine.Select(p => new[]
            {
                $"{p.Source} -> {p.Target}", p.State, p.LagRows?.ToString(inv) ?? "?",
                p.LagSeconds?.ToString("F1", inv) ?? "?", p.RowsMoved.ToString(inv), Output.Ago(p.LastBatchAt),
                p.LastError is null ? "" : (p.ErrorSince is null ? "" : $"(since {Output.Ago(p.ErrorSince)}) ") + p.LastError,
            }));
        }
        var dbs = await store.ListDatabaseStatusAsync(ct);
        if (dbs.Count > 0)
        {
            Output.Line();
            Output.Table(["database", "state", "since", "last error"], dbs.Select(d => new[]
            {
                d.Name, d.Reachable ? "reachable" : "unreachable", Output.Ago(d.Since), d.Reachable ? "" : d.LastError,
            }));
        }
        return 0;
    }
}
