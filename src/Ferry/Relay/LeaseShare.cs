namespace Ferry.Relay;

/// <summary>
/// How one relay's heartbeat divides the syncs, decided on what the store holds now: each live relay (heartbeat within
/// the lease time) holds at most its fair share, the number of syncs over the number of live relays, rounded up. A
/// relay keeps the leases it holds, hands back those beyond its share (or one another live relay with room prefers),
/// and takes free ones (never leased, expired, or its own) up to its share, those it prefers first. A relay that died
/// stops heartbeating; once its leases expire the others count one relay fewer, their share grows, and they take them.
/// <para>
/// A relay cut off from one database (it reported it unreachable) keeps its other syncs. A sync that some live relay
/// cannot run, because it cannot reach one of the sync's databases, while another can, is <em>bound</em>: only relays
/// that reach all its databases run it, beyond any share (a relay holding it keeps it; one that cannot reach it hands
/// it back and never takes it), and the share is counted over the other syncs. A sync nobody can reach is not bound:
/// it stays where it is, since moving it would help nothing.
/// </para>
/// </summary>
public static class LeaseShare
{
    /// <param name="Run">the syncs the relay may run now: those it keeps and those it takes</param>
    /// <param name="Take">free syncs to lease</param>
    /// <param name="Surplus">held syncs to stop and hand back</param>
    /// <param name="Forget">its own leases on syncs no longer active</param>
    public sealed record Decision(IReadOnlySet<string> Run, IReadOnlyList<string> Take, IReadOnlySet<string> Surplus, IReadOnlyList<string> Forget);

    private static readonly HashSet<string> NoneUnreachable = [];

    public static Decision Decide(RelayIdentity me, double now, double leaseSeconds, IReadOnlyList<SyncSources> syncs,
        IReadOnlyList<LiveRelay> relays, IReadOnlyList<Lease> leases)
    {
        var live = relays.Where(r => r.HeartbeatAt > now - leaseSeconds || r.Id == me.Id).ToList();
        var active = syncs.ToDictionary(s => s.Sync);
        var myUnreachable = relays.FirstOrDefault(r => r.Id == me.Id)?.Unreachable ?? NoneUnreachable;
        bool Reaches(IReadOnlySet<string> unreachable, string sync) => !active[sync].Databases.Any(unreachable.Contains);
        var bound = syncs.Select(s => s.Sync)
            .Where(s => live.Any(r => !Reaches(r.Unreachable, s)) && live.Any(r => Reaches(r.Unreachable, s))).ToHashSet();
        bool Ordinary(string sync) => active.ContainsKey(sync) && !bound.Contains(sync);
        var ordinary = syncs.Count(s => !bound.Contains(s.Sync));
        var share = ordinary == 0 ? 0 : (ordinary + live.Count - 1) / Math.Max(1, live.Count);
        var bySync = leases.ToDictionary(l => l.Sync);
        var holding = live.ToDictionary(r => r.Id, r => leases.Count(l => l.RelayId == r.Id && l.ExpiresAt > now && Ordinary(l.Sync)));
        bool Prefers(IReadOnlyList<string> prefers, string sync) => active[sync].Sources.Any(prefers.Contains);
        // Another live relay that prefers the sync and holds less than its share: it is the sync's better home.
        string? BetterHome(string sync) => live.FirstOrDefault(r => r.Id != me.Id && holding[r.Id] < share && Prefers(r.Prefers, sync))?.Id;
        IEnumerable<string> Ordered(IEnumerable<string> s) => s.OrderBy(x => Prefers(me.Prefers, x) ? 0 : 1).ThenBy(x => x, StringComparer.Ordinal);

        var mine = leases.Where(l => l.RelayId == me.Id).Select(l => l.Sync).ToList();
        var forget = mine.Where(s => !active.ContainsKey(s)).ToList();
        var mineBound = mine.Where(bound.Contains).ToList();
        var kept = Ordered(mine.Where(Ordinary)).ToList();
        var surplus = new HashSet<string>(kept.Skip(share).Concat(mineBound.Where(s => !Reaches(myUnreachable, s))));
        foreach (var sync in kept.Take(share).Where(s => !Prefers(me.Prefers, s)))
            if (BetterHome(sync) is { } home)
            {
                surplus.Add(sync);
                holding[home]++;
            }
        var room = share - kept.Count(s => !surplus.Contains(s));
        var free = Ordered(syncs.Select(s => s.Sync).Where(s => !mine.Contains(s) && (!bySync.TryGetValue(s, out var l) || l.ExpiresAt <= now))).ToList();
        var take = free.Where(s => bound.Contains(s) && Reaches(myUnreachable, s))
            .Concat(free.Where(s => !bound.Contains(s) && (Prefers(me.Prefers, s) || BetterHome(s) is null)).Take(Math.Max(0, room)))
            .ToList();
        var run = kept.Concat(mineBound).Where(s => !surplus.Contains(s)).Concat(take).ToHashSet();
        return new Decision(run, take, surplus, forget);
    }
}
