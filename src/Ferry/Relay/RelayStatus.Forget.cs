namespace Ferry.Relay;

/// <summary>
/// A reload that stops a pair for good (its sync removed or paused, its dbgroup changed) takes it out of the status:
/// the endpoint, the page and the metrics show what runs, and a dashboard must not read a frozen series as a live one.
/// What the store recorded of it stays, as it stays when the relay stops.
/// </summary>
public sealed partial class RelayStatus
{
    /// <summary>Called once the pair's worker has ended, so nothing it reports afterwards brings it back.</summary>
    public void Forget(Pair pair)
    {
        _pairs.TryRemove(pair, out _);
        _lag.TryRemove(pair, out _);
        _counted.TryRemove(pair, out _);
        _lagWritten.TryRemove(pair, out _);
        _holds.TryRemove(pair, out _);
        _runs.TryRemove(pair, out _);
        _sequenceProblems.TryRemove(pair, out _);
        _history.TryRemove(pair, out _);
        var labels = new[] { pair.Sync, pair.Source, pair.Target };
        RowsApplied.RemoveLabelled(labels);
        Chunks.RemoveLabelled(labels);
        Failures.RemoveLabelled(labels);
        LagRows.RemoveLabelled(labels);
        LagSeconds.RemoveLabelled(labels);
        LagStale.RemoveLabelled(labels);
        Conflicts.RemoveLabelled(labels);
        RoundTrips.RemoveLabelled(labels);
        TablesHeldGauge.RemoveLabelled(labels);
    }

    /// <summary>Databases no running pair uses any more leave the status too.</summary>
    public void KeepDatabases(IReadOnlySet<string> used)
    {
        foreach (var name in _databases.Keys.Where(n => !used.Contains(n)).ToList())
        {
            _databases.TryRemove(name, out _);
            Up.RemoveLabelled(name);
        }
    }
}
