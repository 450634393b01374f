using Ferry.Resolve;

namespace Ferry;

/// <summary>A named set of tables, and of sequences, replicated together (Bucardo's relgroup).</summary>
public sealed record Herd(string Name, IReadOnlyList<TableName> Tables)
{
    /// <summary>Tables whose conflicts follow another rule than their sync's conflict_strategy.</summary>
    public IReadOnlyDictionary<TableName, ConflictRule> Rules { get; init; } = new Dictionary<TableName, ConflictRule>();

    /// <summary>
    /// Sequences the relay carries forward from every source to the other databases of a sync (Relay/SequenceSync),
    /// named like tables: schema and name, unquoted.
    /// </summary>
    public IReadOnlyList<TableName> Sequences { get; init; } = [];

    public ConflictRule RuleFor(TableName table, ConflictRule syncRule) => Rules.GetValueOrDefault(table, syncRule);
}
