namespace Ferry.Resolve;

/// <summary>
/// How a sync decides between two versions of a row changed on different databases. Every database decides
/// with the same inputs (both versions, both origins, the dbgroup order), so every database picks the same winner.
/// </summary>
public enum ConflictRule
{
    /// <summary>Higher version wins; on equal versions the database earlier in the dbgroup wins.</summary>
    Latest,

    /// <summary>The database earlier in the dbgroup wins, whatever the versions (Bucardo's <c>source</c>).</summary>
    Source,

    /// <summary>Keep the row the target has, and record the conflict.</summary>
    Skip,

    /// <summary>Stop the pair and report; an operator decides.</summary>
    Abort,
}

public static class ConflictRules
{
    public static ConflictRule Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "latest" or "bucardo_latest" or "bucardo_latest_all_tables" => ConflictRule.Latest,
        "source" or "bucardo_source" => ConflictRule.Source,
        "skip" or "bucardo_skip" => ConflictRule.Skip,
        "abort" or "bucardo_abort" => ConflictRule.Abort,
        _ => throw new FormatException(
            $"Unknown conflict_strategy '{text}': use latest (the default), source, skip or abort."),
    };

    public static string Name(this ConflictRule rule) => rule.ToString().ToLowerInvariant();
}
