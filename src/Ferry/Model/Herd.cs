using Ferry.Resolve;

namespace Ferry;

/// <summary>A named set of tables replicated together (Bucardo's relgroup).</summary>
public sealed record Herd(string Name, IReadOnlyList<TableName> Tables)
{
    /// <summary>Tables whose conflicts follow another rule than their sync's conflict_strategy.</summary>
    public IReadOnlyDictionary<TableName, ConflictRule> Rules { get; init; } = new Dictionary<TableName, ConflictRule>();

    public ConflictRule RuleFor(TableName table, ConflictRule syncRule) => Rules.GetValueOrDefault(table, syncRule);
}
