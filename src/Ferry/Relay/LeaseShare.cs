namespace Ferry.Relay;

/// <summary>
/// How one relay's heartbeat divides the syncs, decided on what the store holds now: each live relay (heartbeat within
/// the lease time) holds at most its fair share, the number of syncs over the number of live relays, rounded up. A
/// relay keeps the leases it holds, hands back those beyond its share (or one another live relay with room prefers),
/// and takes free ones (never leased, expired, or its own) up to its share, those it prefers first. A relay that died
/// stops heartbeating; once its leases expire the others count one relay fewer, their share grows, and they take them.
/// </summary>
public static class LeaseShare
{
    /// <param name="Run">the syncs the relay may run now: those it keeps and those it takes</param>
    /// <param name="Take">free syncs to lease</param>
    /// <param name="Surplus">held syncs to stop and hand back</param>
    /// <param name="Forget">its own leases on syncs no longer active</param>
    public sealed record Decision(IReadOnlySet<string> Run, IReadOnlyList<string> Take, IReadOnlySet<string> Surplus, IReadOnlyList<string> Forget);

    public static Decision Decide(RelayIdentity me, double now, double leaseSeconds, IReadOnlyList<SyncSources> syncs,
        IReadOnlyList<LiveRelay> relays, IReadOnlyList<Lease> leases)
    {
        var live = relays.Where(r => r.HeartbeatAt > now - leaseSeconds || r.Id == me.Id).ToList();
        var share = syncs.Count == 0 ? 0 : (syncs.Count + live.Count - 1) / Math.Max(1, live.Count);
        var bySync = leases.ToDictionary(l => l.Sync);
        var active = syncs.ToDictionary(s => s.Sync);
        var holding = live.ToDictionary(r => r.Id, r => leases.Count(l => l.RelayId == r.Id && l.ExpiresAt > now && active.ContainsKey(l.Sync)));
        bool Prefers(IReadOnlyList<string> prefers, string sync) => active[sync].Sources.Any(prefers.Contains);
        // Another live relay that prefers the sync and holds less than its share: it is the sync's better home.
        string? BetterHome(string sync) => live.FirstOrDefault(r => r.Id != me.Id && holding[r.Id] < share && Prefers(r.Prefers, sync))?.Id;
        IEnumerable<string> Ordered(IEnumerable<string> s) => s.OrderBy(x => Prefers(me.Prefers, x) ? 0 : 1).ThenBy(x => x, StringComparer.Ordinal);

        var mine = leases.Where(l => l.RelayId == me.Id).Select(l => l.Sync).ToList();
        var forget = mine.Where(s => !active.ContainsKey(s)).ToList();
        var kept = Ordered(mine.Where(active.ContainsKey)).ToList();
        var surplus = new HashSet<string>(kept.Skip(share));
        foreach (var sync in kept.Take(share).Where(s => !Prefers(me.Prefers, s)))
            if (BetterHome(sync) is { } home)
            {
                surplus.Add(sync);
                holding[home]++;
            }
        var room = share - (kept.Count - surplus.Count);
        var take = Ordered(syncs.Select(s => s.Sync).Where(s => !mine.Contains(s) && (!bySync.TryGetValue(s, out var l) || l.ExpiresAt <= now)))
            .Where(s => Prefers(me.Prefers, s) || BetterHome(s) is null)
            .Take(Math.Max(0, room)).ToList();
        var run = kept.Where(s => !surplus.Contains(s)).Concat(take).ToHashSet();
        return new Decision(run, take, surplus, forget);
    }
}
