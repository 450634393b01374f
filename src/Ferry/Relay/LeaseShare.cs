namespace Ferry.Relay;

/// <summary>
/// How one relay's heartbeat divides the syncs, decided on what the store holds now: each live relay (heartbeat within
/// the lease time) holds at most its fair share, the number of syncs over the number of live relays, rounded up. A
/// relay keeps the leases it holds, hands back those beyond its share (or one another live relay with room prefers),
/// and takes free ones (never leased, expired, or its own) up to its share, those it prefers first. A relay that died
/// stops heartbeating; once its leases expire the others count one relay fewer, their share grows, and they take them.
/// <para>
/// Syncs move in units (<see cref="Units"/>): a database captured by WAL has one slot, which one relay's capture reads,
/// and an apply into it asks that relay's own capture for flushes (WalFlushDemand is in-process), so every sync touching
/// it must run on the relay that runs its capture. A unit is kept, taken and handed back whole; it counts by its number
/// of syncs, and a relay keeps or takes one while it holds fewer syncs than its share, so a unit may carry it past its
/// share (by the unit's size less one at most) and the others take fewer. A unit is preferred by a relay when any of its
/// syncs is; relays that disagree change nothing: whoever holds it keeps it. A unit split between relays (its syncs
/// came together by a change of configuration) gathers on the live relay holding most of it (ties: the lowest id); the
/// others hand their part back, and that relay takes it once free. Trigger-captured syncs are units of one.
/// </para>
/// <para>
/// A relay cut off from one database (it reported it unreachable) keeps its other syncs. A unit that some live relay
/// cannot run, because it cannot reach one of its databases, while another can, is <em>bound</em>: only relays that
/// reach all its databases run it, beyond any share (a relay holding it keeps it; one that cannot reach it hands it
/// back and never takes it), and the share is counted over the other syncs. A unit nobody can reach is not bound: it
/// stays where it is, since moving it would help nothing.
/// </para>
/// </summary>
public static class LeaseShare
{
    /// <param name="Run">the syncs the relay may run now: those it keeps and those it takes</param>
    /// <param name="Take">free syncs to lease</param>
    /// <param name="Surplus">held syncs to stop and hand back</param>
    /// <param name="Forget">its own leases on syncs no longer active</param>
    public sealed record Decision(IReadOnlySet<string> Run, IReadOnlyList<string> Take, IReadOnlySet<string> Surplus, IReadOnlyList<string> Forget);

    /// <summary>
    /// The syncs that must run on one relay: those sharing a WAL-captured database (<see cref="SyncSources.Wal"/>),
    /// transitively (a and b share x, b and c share y: a, b, c); every other sync alone. Ordered by their first sync.
    /// </summary>
    public static IReadOnlyList<SyncUnit> Units(IReadOnlyList<SyncSources> syncs)
    {
        var parent = syncs.ToDictionary(s => s.Sync, s => s.Sync);
        string Root(string s)
        {
            while (parent[s] != s) s = parent[s] = parent[parent[s]];
            return s;
        }
        foreach (var sharing in syncs.SelectMany(s => s.Wal.Select(db => (Db: db, s.Sync))).GroupBy(x => x.Db))
        {
            var first = Root(sharing.First().Sync);
            foreach (var (_, sync) in sharing.Skip(1))
                if (Root(sync) is var root && root != first) parent[root] = first;
        }
        return syncs.GroupBy(s => Root(s.Sync))
            .Select(g => new SyncUnit(g.Select(s => s.Sync).Order(StringComparer.Ordinal).ToList(),
                g.SelectMany(s => s.Wal).Distinct().Order(StringComparer.Ordinal).ToList()))
            .OrderBy(u => u.Syncs[0], StringComparer.Ordinal).ToList();
    }

    public static Decision Decide(RelayIdentity me, double now, double leaseSeconds, IReadOnlyList<SyncSources> syncs,
        IReadOnlyList<LiveRelay> relays, IReadOnlyList<Lease> leases)
    {
        var live = relays.Where(r => r.HeartbeatAt > now - leaseSeconds || r.Id == me.Id).ToList();
        if (live.All(r => r.Id != me.Id)) live.Add(new LiveRelay(me.Id, now, me.Prefers));
        var myUnreachable = live.First(r => r.Id == me.Id).Unreachable;
        var active = syncs.ToDictionary(s => s.Sync);
        // Units by their first sync's name; what a unit touches and reads from is its syncs' together.
        var units = Units(syncs).ToDictionary(u => u.Syncs[0], u => u.Syncs);
        var touches = units.ToDictionary(u => u.Key, u => u.Value.SelectMany(s => active[s].Databases).ToHashSet());
        var sources = units.ToDictionary(u => u.Key, u => u.Value.SelectMany(s => active[s].Sources).ToHashSet());
        bool Reaches(IReadOnlySet<string> unreachable, string unit) => !touches[unit].Any(unreachable.Contains);
        var bound = units.Keys.Where(u => live.Any(r => !Reaches(r.Unreachable, u)) && live.Any(r => Reaches(r.Unreachable, u))).ToHashSet();
        var ordinary = units.Where(u => !bound.Contains(u.Key)).Sum(u => u.Value.Count);
        var share = ordinary == 0 ? 0 : (ordinary + live.Count - 1) / Math.Max(1, live.Count);

        var bySync = leases.ToDictionary(l => l.Sync);
        var mine = leases.Where(l => l.RelayId == me.Id).Select(l => l.Sync).ToHashSet();
        // Another relay's lease counts while unexpired; this relay's own renews in the same transaction.
        int Held(string relay, string unit) => units[unit].Count(s => relay == me.Id
            ? mine.Contains(s)
            : bySync.TryGetValue(s, out var l) && l.RelayId == relay && l.ExpiresAt > now);
        bool Free(string sync) => !bySync.TryGetValue(sync, out var l) || l.ExpiresAt <= now;
        var holding = live.ToDictionary(r => r.Id, r => units.Keys.Where(u => !bound.Contains(u)).Sum(u => Held(r.Id, u)));
        bool Prefers(IReadOnlyList<string> prefers, string unit) => sources[unit].Any(prefers.Contains);
        // Another live relay that prefers the unit and holds less than its share: it is the unit's better home.
        string? BetterHome(string unit) => live.FirstOrDefault(r => r.Id != me.Id && holding[r.Id] < share && Prefers(r.Prefers, unit))?.Id;
        IEnumerable<string> Ordered(IEnumerable<string> u) =>
            u.OrderBy(x => Prefers(me.Prefers, x) ? 0 : 1).ThenByDescending(x => units[x].Count).ThenBy(x => x, StringComparer.Ordinal);
        // Of the live relays holding part of a unit (that reach it, when it is bound), the one holding most gathers it.
        bool Home(string unit)
        {
            var holders = live.Where(r => Held(r.Id, unit) > 0 && (!bound.Contains(unit) || Reaches(r.Unreachable, unit)))
                .OrderByDescending(r => Held(r.Id, unit)).ThenBy(r => r.Id, StringComparer.Ordinal);
            return holders.FirstOrDefault()?.Id == me.Id;
        }

        var forget = mine.Where(s => !active.ContainsKey(s)).Order(StringComparer.Ordinal).ToList();
        var myUnits = units.Keys.Where(u => units[u].Any(mine.Contains)).ToList();
        var homes = myUnits.Where(Home).ToHashSet();
        var surplusUnits = myUnits.Where(u => !homes.Contains(u)).ToHashSet();
        var kept = new List<string>();
        var count = 0;
        foreach (var unit in Ordered(homes.Where(u => !bound.Contains(u))))
            if (count < share)
            {
                kept.Add(unit);
                count += units[unit].Count;
            }
            else surplusUnits.Add(unit);
        foreach (var unit in kept.Where(u => !Prefers(me.Prefers, u)))
            if (BetterHome(unit) is { } home)
            {
                surplusUnits.Add(unit);
                holding[home] += units[unit].Count;
            }
        var room = share - kept.Where(u => !surplusUnits.Contains(u)).Sum(u => units[u].Count);
        var free = Ordered(units.Keys.Where(u => !myUnits.Contains(u) && units[u].All(Free))).ToList();
        var takeUnits = new List<string>();
        takeUnits.AddRange(free.Where(u => bound.Contains(u) && Reaches(myUnreachable, u)));
        foreach (var unit in free.Where(u => !bound.Contains(u) && (Prefers(me.Prefers, u) || BetterHome(u) is null)))
        {
            if (room <= 0) break;
            takeUnits.Add(unit);
            room -= units[unit].Count;
        }
        var runUnits = homes.Where(u => !surplusUnits.Contains(u)).Concat(takeUnits).ToList();
        // A unit gathering here takes its syncs as they come free: a split one's other parts once handed back.
        var take = runUnits.SelectMany(u => units[u]).Where(s => !mine.Contains(s) && Free(s)).ToList();
        var run = runUnits.SelectMany(u => units[u]).Where(s => mine.Contains(s) || take.Contains(s)).ToHashSet();
        var surplus = surplusUnits.SelectMany(u => units[u]).Where(mine.Contains).ToHashSet();
        return new Decision(run, take, surplus, forget);
    }
}
