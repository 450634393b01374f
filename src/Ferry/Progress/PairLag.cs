namespace Ferry.Progress;

/// <summary>
/// A pair's lag: the changes committed on its source that its target has not applied, and the age of the oldest.
/// </summary>
/// <param name="Rows">entries waiting (row versions the pair's position cannot see, plus change-log entries not yet
/// folded); null: never measured</param>
/// <param name="Seconds">age of the oldest of them, by the source's clock (0 when none waits)</param>
/// <param name="MeasuredAt">when the figure was last true</param>
/// <param name="StaleSince">set while the figure cannot be measured (the source is unreachable, or the relay has
/// not yet measured it since it started): the figure is the last known one, and this says since when</param>
/// <param name="Position">the target's applied-through snapshot the figure was counted against: kept, so that the
/// lag can still be counted on the source alone while the target is unreachable (only ferry moves it)</param>
public sealed record PairLag(long? Rows, double? Seconds, DateTimeOffset? MeasuredAt, DateTimeOffset? StaleSince, string? Position)
{
    public static readonly PairLag Unknown = new(null, null, null, null, null);

    public bool Stale => StaleSince is not null || MeasuredAt is null;

    /// <summary>The same figure, marked stale from <paramref name="now"/> unless it already was.</summary>
    public PairLag MarkStale(DateTimeOffset now) => this with { StaleSince = StaleSince ?? now };
}
