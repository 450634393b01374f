namespace Ferry;

/// <summary>
/// Databases that need no row versions of their own: each is a target only, in every sync it belongs to, and
/// receives from one source database only. A read replica of one master is the common case. Nothing there is ever
/// decided between two versions (one source delivers its changes in commit order, exactly once) and nothing is
/// read from it, so its pairs skip the version lookups and writes: a third of a bulk apply's work.
/// </summary>
public static class PlainTargets
{
    /// <summary>Considers every sync, active or not: one that is paused now may run again.</summary>
    public static IReadOnlySet<string> Of(IEnumerable<(Sync Sync, DbGroup Group)> syncs)
    {
        var pairs = syncs.SelectMany(s => Sync.PairsOf(s.Sync, s.Group)).ToList();
        var sources = pairs.Select(p => p.Source).ToHashSet();
        return pairs.GroupBy(p => p.Target)
            .Where(g => !sources.Contains(g.Key) && g.Select(p => p.Source).Distinct().Count() == 1)
            .Select(g => g.Key)
            .ToHashSet();
    }
}
