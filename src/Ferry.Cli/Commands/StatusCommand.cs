using System.Globalization;
using System.Text.Json;
using Ferry.ControlStore;
using Ferry.Status;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry status [SYNC] [--json]`: per sync its state, last good run and rows moved; per pair the lag; per database
/// reachable or its last error and since when. Read from the control store, where the relay writes as it works, so it
/// answers whether or not the relay is running; without a relay it measures each pair's lag itself.
/// </summary>
public static class StatusCommand
{
    public static async Task<int> RunAsync(BucardoArguments args, CancellationToken ct)
    {
        // `--json SYNC` reads as json=SYNC to the Bucardo parser: a value other than a yes is a sync's name.
        var jsonValue = args.Get("json");
        if (jsonValue is not null && jsonValue is not ("1" or "true" or "yes")) args.Words.Add(jsonValue);
        args.RejectUnknown("status");
        using var store = await Store.OpenAsync(Defaults.StorePath, ct);
        var relay = await RelayProcess.FindAsync(ct);
        if (jsonValue is not null)
        {
            Output.Line(await JsonAsync(store, relay, ct));
            return 0;
        }
        Output.Line($"Store: {store.Address.Describe()}");
        // With no relay in this home, relays of other homes on a shared store may be running the syncs.
        var othersRun = relay is null && store.Address.IsPostgres
                        && (await store.ListRelaysAsync(ct)).Any(r => r.HeartbeatAgeSeconds < Defaults.LeaseTime.TotalSeconds);
        Output.Line(othersRun
            ? "Relay: none in this home; the relays listed below run the syncs"
            : relay is null
            ? "Relay: not running; changes wait in the databases until it runs. Start it with: ferry start"
            : relay.Starting ? $"Relay: starting, pid {relay.Pid}"
            : $"Relay: running, pid {relay.Pid}, since {relay.StartedAt.ToLocalTime():yyyy-MM-dd HH:mm:ss}, {relay.Url}");
        var all = await store.ListSyncsAsync(ct);
        var syncs = all;
        if (args.Words.Count > 0)
        {
            foreach (var w in args.Words) await store.GetSyncAsync(w, ct);
            syncs = syncs.Where(s => args.Words.Contains(s.Name)).ToList();
        }
        // With no relay, nobody keeps the lag true: it is measured from the databases now (a few seconds at most).
        var document = await StatusDocument.FromStoreAsync(store, relay?.Pid, relay is null, ct, RelayProcess.IsOtherFerry);
        var inv = CultureInfo.InvariantCulture;
        var storedPairs = await store.ListPairStatusAsync(ct);
        foreach (var sync in syncs)
        {
            var mine = document.Pairs.Where(p => p.Sync == sync.Name).ToList();
            var stored = storedPairs.Where(p => p.Sync == sync.Name).ToList();
            // A held table makes its pair's state "tables held": never good while one waits.
            var state = !sync.Active ? "inactive"
                : relay is null && !othersRun ? "stopped"
                : stored.Any(p => p.State != "replicating") ? "degraded"
                : stored.Count == 0 ? "starting" : "good";
            var lastGood = stored.Select(p => p.LastGoodAt).Where(t => t is not null).DefaultIfEmpty(null).Min();
            Output.Line();
            Output.Line($"Sync {sync.Name}: {state}; herd {sync.Herd}, dbgroup {sync.DbGroup}, conflict_strategy " +
                        $"{sync.ConflictRule.ToString().ToLowerInvariant()}; last good run {Output.Ago(lastGood)}; " +
                        $"rows moved {stored.Sum(p => p.RowsMoved)}");
            Output.Table(["pair", "state", "lag rows", "lag s", "rows moved", "last batch", "last error"], mine.Select(p => new[]
            {
                $"{p.Source} -> {p.Target}", p.State,
                (p.LagRows?.ToString(inv) ?? "?") + (p.LagStale ? $" (stale, since {Output.Ago(Iso(p.LagStaleSince ?? p.LagMeasuredAt))})" : ""),
                p.LagSeconds?.ToString("F1", inv) ?? "?", p.RowsMoved.ToString(inv),
                Output.Ago(stored.FirstOrDefault(s => s.Source == p.Source && s.Target == p.Target)?.LastBatchAt),
                p.LastError is null ? "" : (p.ErrorSince is null ? "" : $"(since {Output.Ago(Iso(p.ErrorSince))}) ") + p.LastError,
            }));
        }
        PrintRelays(document.Relays);
        await PrintHeldTablesAsync(store, syncs, ct);
        PrintCopies(document.Copies, args.Words.Count > 0 ? args.Words : null);
        var dbs = await store.ListDatabaseStatusAsync(ct);
        if (dbs.Count > 0)
        {
            Output.Line();
            Output.Table(["database", "state", "since", "last error"], dbs.Select(d => new[]
            {
                d.Name, d.Reachable ? "reachable" : "unreachable", Output.Ago(d.Since), d.Reachable ? "" : d.LastError,
            }));
        }
        foreach (var db in (await store.ListDatabasesAsync(ct)).Where(d => d.CapturesWal))
            Output.Line(await Capture.Wal.WalSlot.DescribeAsync(db, ct));
        return 0;
    }

    private static string? Iso(DateTimeOffset? t) => t?.ToString("O", CultureInfo.InvariantCulture);

    /// <summary>
    /// The status document, the same as the relay's HTTP <c>/status</c>: from the relay when it runs (the figures it
    /// keeps), else built here with each pair's lag measured from its databases.
    /// </summary>
    private static async Task<string> JsonAsync(Store store, RelayProcess? relay, CancellationToken ct)
    {
        if (relay is { Starting: false })
        {
            try
            {
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
                return (await http.GetStringAsync($"http://127.0.0.1:{relay.HttpPort}/status", ct)).TrimEnd();
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                // The relay does not answer: what it last wrote to the store is the next best.
            }
        }
        var document = await StatusDocument.FromStoreAsync(store, relay?.Pid, relay is null, ct);
        return JsonSerializer.Serialize(document, StatusEndpoint.JsonOptions);
    }

    /// <summary>Relays sharing a PostgreSQL store: each runs the syncs it holds leases on.</summary>
    private static void PrintRelays(IReadOnlyList<Ferry.Relay.RelayRegistration>? relays)
    {
        if (relays is null) return;
        var lease = Defaults.LeaseTime.TotalSeconds;
        Output.Line();
        Output.Line($"Relays on this store (each runs the syncs it leases; a lease lasts {lease:0.#} s unless renewed):");
        if (relays.Count == 0)
        {
            Output.Line("  none running");
            return;
        }
        // Cannot reach: databases its links have failed to for over a lease time; their syncs run on a relay that reaches them.
        Output.Table(["relay", "http", "heartbeat", "prefers", "leases", "cannot reach"], relays.Select(r => new[]
        {
            r.Id, r.Http ?? "", $"{r.HeartbeatAgeSeconds.ToString("F1", CultureInfo.InvariantCulture)} s ago" + (r.HeartbeatAgeSeconds > lease ? " (dead?)" : ""),
            string.Join(",", r.Prefers), (r.Leases.Count == 0 ? "none" : $"{r.Leases.Count}: {string.Join(", ", r.Leases)}") +
            string.Concat(r.Together.Select(u => $" ({string.Join(" + ", u.Syncs)} together: WAL of {string.Join(", ", u.Wal)})")),
            string.Join(",", r.Unreachable),
        }));
    }

    /// <summary>
    /// Tables held on a pair: their changes wait on the source while the pair's other tables flow. Each with its cause,
    /// since when, and the fix; the relay lets it go on by itself once the cause is gone.
    /// </summary>
    private static async Task PrintHeldTablesAsync(Store store, List<Sync> syncs, CancellationToken ct)
    {
        var held = (await store.ListHeldTablesAsync(ct)).Where(h => syncs.Any(s => s.Name == h.Sync)).ToList();
        if (held.Count == 0) return;
        Output.Line();
        Output.Line("Held tables (their changes wait, nothing is lost; each resumes by itself once its cause is gone):");
        Output.Table(["sync", "pair", "table", "since", "cause", "fix"], held.Select(h => new[]
        {
            h.Sync, $"{h.Source} -> {h.Target}", h.Table.ToString(), Output.Ago(h.Since), h.Cause, h.Fix,
        }));
    }

    /// <summary>
    /// Copies that began and did not finish: running (where each stands, its rate and ETA), or killed, interrupted or
    /// given up on an error, with the command that resumes it. Their targets are part filled, and the relay holds those
    /// targets' pairs until the copy is done.
    /// </summary>
    /// <param name="only">the syncs asked for; null: all</param>
    private static void PrintCopies(IReadOnlyList<CopySnapshot> all, IReadOnlyList<string>? only)
    {
        var copies = all.Where(c => only is null || only.Contains(c.Sync)).ToList();
        if (copies.Count == 0) return;
        var inv = CultureInfo.InvariantCulture;
        Output.Line();
        Output.Line("Unfinished copies, running or stopped (their targets are part filled; running the copy again resumes it):");
        Output.Table(["sync", "from", "into", "state", "table", "rows", "rate", "ETA", "started", "to resume"], copies.Select(c =>
        {
            var running = c.State == "copying";
            return new[]
            {
                c.Sync, c.Source, c.Target,
                (running ? $"copying (pid {c.Pid})" : c.State) + (c.LastError is null ? "" : ": " + c.LastError)
                    + (c.State == "stopped" ? ": the copy's process ended before it finished" : ""),
                c.Table is null ? "" : $"{c.Table} ({c.TableNumber}/{c.Tables})",
                c.RowsDone is not { } rows ? "" : rows.ToString(inv) + (c.RowsEstimate is { } e ? $"/{e.ToString(inv)}" : "")
                    + (c.Percent is { } p ? $" ({p.ToString(inv)}%)" : ""),
                running && c.RowsPerSecond is { } rate ? $"{rate.ToString("F0", inv)} rows/s" : "",
                running && c.EtaSeconds is { } eta ? Ferry.Copy.TableProgress.Duration(TimeSpan.FromSeconds(eta)) : "",
                Output.Ago(c.StartedAt.ToString("O", inv)),
                running ? "" : c.Resume,
            };
        }));
    }
}
