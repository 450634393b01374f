using System.Globalization;
using Ferry.ControlStore;
using Ferry.Progress;
using Ferry.Relay;

namespace Ferry.Status;

/// <summary>
/// The status document (<see cref="RelaySnapshot"/>, what HTTP <c>/status</c> serves) built from the control store,
/// for `ferry status` when it does not ask a running relay. With <c>measure</c> (no relay runs, so nobody else keeps
/// the figures true), every pair's lag is measured from its databases now, each database given
/// <see cref="Defaults.LagProbeTimeout"/>, all pairs at once, and the figures are written back to the store.
/// </summary>
public static class StatusDocument
{
    /// <param name="copyRunning">whether a copy's process still runs (default: whether the process exists)</param>
    public static async Task<RelaySnapshot> FromStoreAsync(Store store, int? pid, bool measure, CancellationToken ct,
        Func<int, bool>? copyRunning = null)
    {
        var states = (await store.ListPairStatusAsync(ct)).ToDictionary(p => new Pair(p.Sync, p.Source, p.Target));
        var relays = store.Address.IsPostgres ? await store.ListRelaysAsync(ct) : null;
        // On a shared store, relays of other homes may run the pairs: what they recorded is the state.
        var othersRun = relays?.Any(r => r.HeartbeatAgeSeconds < Defaults.LeaseTime.TotalSeconds) == true;
        var known = await store.ListLagAsync(ct);
        var pairs = new List<(Pair Pair, Sync Sync, Task<PairLag> Lag)>();
        var databases = new Dictionary<string, Database>();
        foreach (var sync in await store.ListSyncsAsync(ct))
        {
            var group = await store.GetDbGroupAsync(sync.DbGroup, ct);
            var herd = await store.GetHerdAsync(sync.Herd, ct);
            foreach (var pair in Sync.PairsOf(sync, group))
            {
                var last = known.GetValueOrDefault(pair) ?? PairLag.Unknown;
                if (!measure)
                {
                    pairs.Add((pair, sync, Task.FromResult(last)));
                    continue;
                }
                foreach (var name in new[] { pair.Source, pair.Target })
                    if (!databases.ContainsKey(name)) databases[name] = await store.GetDatabaseAsync(name, ct);
                var setup = new PairSetup(pair, sync, group, herd, databases[pair.Source], databases[pair.Target]);
                pairs.Add((pair, sync, LagProbe.MeasureAsync(setup.Source, setup.Target, pair, setup.SkipOrigins,
                    herd.Tables, last, ct)));
            }
        }
        await Task.WhenAll(pairs.Select(p => p.Lag));
        var snapshots = new List<PairSnapshot>();
        foreach (var (pair, sync, measured) in pairs)
        {
            var lag = await measured;
            if (measure)
            {
                try
                {
                    await store.RecordLagAsync(pair, lag, ct);
                }
                catch (System.Data.Common.DbException)
                {
                    // Only a help for the next reader (a store busy or read-only now): the figure shown is right anyway.
                }
            }
            var state = !sync.Active ? "inactive" : pid is null && !othersRun ? "relay not running" : states.GetValueOrDefault(pair)?.State ?? "starting";
            var s = states.GetValueOrDefault(pair);
            snapshots.Add(PairSnapshot.Of(pair, state, s?.RowsMoved ?? 0, lag, Time(s?.LastGoodAt), s?.LastError, Time(s?.ErrorSince)));
        }
        var dbs = (await store.ListDatabaseStatusAsync(ct))
            .Select(d => new DatabaseSnapshot(d.Name, d.Reachable, d.Reachable ? null : d.LastError, Time(d.Since)!.Value)).ToList();
        var held = (await store.ListHeldTablesAsync(ct))
            .Select(h => new HeldTableSnapshot(h.Sync, h.Source, h.Target, h.Table.ToString(), h.Cause, h.Fix, Time(h.Since)!.Value)).ToList();
        return new RelaySnapshot(pid, dbs, snapshots, held)
        {
            Copies = await CopySnapshot.ListAsync(store, copyRunning ?? CopySnapshot.ProcessAlive, ct),
            Relays = relays,
        };
    }

    private static DateTimeOffset? Time(string? t) =>
        t is null ? null : DateTimeOffset.Parse(t, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
}
