using Ferry.Resolve;

namespace Ferry;

/// <summary>A herd replicated within a dbgroup: the unit the relay runs.</summary>
public sealed record Sync(string Name, string Herd, string DbGroup, ConflictRule ConflictRule, bool Active)
{
    /// <summary>Every direction of the sync: each source to every other database of the group.</summary>
    public static IReadOnlyList<Pair> PairsOf(Sync sync, DbGroup group) =>
        group.Members.Where(s => s.Role == Role.Source)
            .SelectMany(s => group.Members.Where(t => t.Database != s.Database)
                .Select(t => new Pair(sync.Name, s.Database, t.Database)))
            .ToList();
}
