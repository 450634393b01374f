using System.Text;
using Ferry.ControlStore;

namespace Ferry.Relay;

/// <summary>
/// What the relay should run, as the control store says now: a <see cref="PairSetup"/> per pair of every active sync,
/// and the source databases they read from. A reload compares it with what runs: each pair's and each source's
/// <c>Definition</c> is a text that changes exactly when the configuration it runs on does.
/// </summary>
public sealed record RelayPlan(IReadOnlyDictionary<Pair, PairSetup> Pairs, IReadOnlyDictionary<string, Database> Sources)
{
    public static async Task<RelayPlan> ReadAsync(Store store, CancellationToken ct)
    {
        var syncGroups = await store.ListSyncGroupsAsync(ct);
        // Both consider every sync, active or not: a paused one may run again, and what it installed stays.
        var plainTargets = PlainTargets.Of(syncGroups);
        // Databases some pair reads from, in any sync: a column only such a target has holds its tables (PairSetup).
        var readFrom = syncGroups.SelectMany(s => Sync.PairsOf(s.Sync, s.Group)).Select(p => p.Source).ToHashSet();
        // Each kind read whole, once: every heartbeat reads the plan, and a query per sync made it a few hundred queries
        // with 50 syncs, each waiting for a pooled store connection behind the pairs' status writes.
        var herds = (await store.ListHerdsAsync(ct)).ToDictionary(h => h.Name);
        var databases = (await store.ListDatabasesAsync(ct)).ToDictionary(d => d.Name);
        var pairs = new Dictionary<Pair, PairSetup>();
        foreach (var (sync, group) in syncGroups.Where(s => s.Sync.Active))
        {
            // Unknown ones (removed meanwhile) fail as before, with the message that says what to do.
            var herd = herds.TryGetValue(sync.Herd, out var h) ? h : await store.GetHerdAsync(sync.Herd, ct);
            foreach (var pair in Sync.PairsOf(sync, group))
            {
                var source = databases.TryGetValue(pair.Source, out var s) ? s : databases[pair.Source] = await store.GetDatabaseAsync(pair.Source, ct);
                var target = databases.TryGetValue(pair.Target, out var t) ? t : databases[pair.Target] = await store.GetDatabaseAsync(pair.Target, ct);
                pairs[pair] = new PairSetup(pair, sync, group, herd, source, target)
                {
                    TargetKeepsVersions = !plainTargets.Contains(pair.Target),
                    TargetIsRead = readFrom.Contains(pair.Target),
                };
            }
        }
        var sources = pairs.Keys.Select(p => p.Source).Distinct().ToDictionary(n => n, n => databases[n]);
        return new RelayPlan(pairs, sources);
    }

    /// <summary>The plan for the syncs this relay holds leases on (all of them when <paramref name="syncs"/> is null).</summary>
    public RelayPlan Only(IReadOnlySet<string>? syncs)
    {
        if (syncs is null) return this;
        var pairs = Pairs.Where(p => syncs.Contains(p.Key.Sync)).ToDictionary(p => p.Key, p => p.Value);
        return new RelayPlan(pairs, pairs.Keys.Select(p => p.Source).Distinct().ToDictionary(n => n, n => Sources[n]));
    }

    /// <summary>Every active sync that has pairs, with the databases they read from and touch: what leases are taken on.</summary>
    public IReadOnlyList<SyncSources> Syncs() =>
        Syncs(Pairs.Keys, Pairs.Values.SelectMany(s => new[] { s.Source, s.Target }).Where(d => d.CapturesWal).Select(d => d.Name).ToHashSet());

    /// <summary>
    /// The syncs of <paramref name="pairs"/> (active ones), each with the databases it reads from and touches, and those
    /// of <paramref name="capturesWal"/> it touches whose capture runs: a relay runs a WAL capture for a database some
    /// running pair reads from, and an apply into such a database waits for it (PairRunner's waitForWal).
    /// </summary>
    public static IReadOnlyList<SyncSources> Syncs(IEnumerable<Pair> pairs, IReadOnlySet<string> capturesWal)
    {
        var all = pairs.ToList();
        var captured = all.Select(p => p.Source).Where(capturesWal.Contains).ToHashSet();
        return all.GroupBy(p => p.Sync).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g =>
            {
                var databases = g.SelectMany(p => new[] { p.Source, p.Target }).Distinct().Order(StringComparer.Ordinal).ToList();
                return new SyncSources(g.Key, g.Select(p => p.Source).Distinct().Order(StringComparer.Ordinal).ToList())
                {
                    Databases = databases,
                    Wal = databases.Where(captured.Contains).ToList(),
                };
            }).ToList();
    }

    /// <summary>Every database some pair of the plan reads from or writes to, with its connection settings.</summary>
    public IReadOnlyDictionary<string, Database> Databases() =>
        Pairs.Values.SelectMany(s => new[] { s.Source, s.Target }).DistinctBy(d => d.Name).ToDictionary(d => d.Name);

    /// <summary>A digest of the whole plan's definitions: a heartbeat that finds it changed reloads (a verb run on another host).</summary>
    public string Digest() =>
        Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\u001e",
            Pairs.OrderBy(p => p.Key.ToString(), StringComparer.Ordinal).Select(p => p.Key + "\u001d" + Definition(p.Value))))));

    /// <summary>
    /// Everything a running pair was built from: its sync's rule, its dbgroup (members, roles, order: the tie-break),
    /// its herd (tables, per-table rules, sequences), both databases' connection settings and password, and what the
    /// rest of the configuration makes of its target. Records compare dictionaries and lists by reference, hence text.
    /// </summary>
    public static string Definition(PairSetup s)
    {
        var d = new StringBuilder();
        d.Append("rule=").Append(s.Sync.ConflictRule).Append("\nherd=").Append(s.Herd.Name).Append("\ngroup=").Append(s.Group.Name);
        foreach (var m in s.Group.Members) d.Append("\nmember=").Append(m.Database).Append(':').Append(m.Role);
        foreach (var t in s.Herd.Tables) d.Append("\ntable=").Append(t).Append(':').Append(s.Herd.RuleFor(t, s.Sync.ConflictRule));
        foreach (var q in s.Herd.Sequences) d.Append("\nsequence=").Append(q);
        d.Append("\nversions=").Append(s.TargetKeepsVersions).Append("\nread=").Append(s.TargetIsRead);
        d.Append("\nsource=").Append(Definition(s.Source)).Append("\ntarget=").Append(Definition(s.Target));
        return d.ToString();
    }

    /// <summary>A database's connection: its settings in a fixed order, and its password.</summary>
    public static string Definition(Database db)
    {
        var d = new StringBuilder(db.Name);
        foreach (var (k, v) in db.Settings.OrderBy(kv => kv.Key, StringComparer.Ordinal)) d.Append('\u001f').Append(k).Append('=').Append(v);
        return d.Append('\u001f').Append(db.Password).ToString();
    }
}
