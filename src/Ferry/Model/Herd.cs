namespace Ferry;

/// <summary>A named set of tables replicated together (Bucardo's relgroup).</summary>
public sealed record Herd(string Name, IReadOnlyList<TableName> Tables);
