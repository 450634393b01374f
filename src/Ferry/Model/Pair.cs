namespace Ferry;

/// <summary>One direction of a sync, from a source to another database: the unit of progress.</summary>
public sealed record Pair(string Sync, string Source, string Target)
{
    public override string ToString() => $"{Sync}:{Source}->{Target}";
}
