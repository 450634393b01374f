using Ferry.Postgres;
using Microsoft.Extensions.Logging;

namespace Ferry.Relay;

/// <summary>
/// A relay cut off from one database only (a partition between its host and one side of a firewall) reports that
/// database in its heartbeat, and <see cref="LeaseShare"/> hands the syncs touching it to a relay that reaches it,
/// while this one keeps the rest. Reported from the pairs' own link state (<see cref="RelayStatus.Unreached"/>: set by a
/// link failure, cleared by any connection or drain that succeeds), and only once it has held for the
/// lease time: a link that resets now and then but connects in between never moves a sync. Once its pairs there are
/// handed back, nothing of this relay connects to that database any more, so a probe tries it each heartbeat; the first
/// connection that succeeds makes it reachable again, and the share rebalances.
/// </summary>
public sealed partial class Relay
{
    // Every database of the whole plan (not only the syncs held): what a probe connects to. Replaced by each heartbeat.
    private IReadOnlyDictionary<string, Database> _planned = new Dictionary<string, Database>();

    /// <summary>The databases this relay has failed to reach for at least the lease time, among those the plan uses.</summary>
    private List<UnreachableDatabase> Unreachable()
    {
        var now = DateTimeOffset.UtcNow;
        return Status.Unreached.Where(d => now - d.Value.Since >= Defaults.LeaseTime && _planned.ContainsKey(d.Key))
            .OrderBy(d => d.Key, StringComparer.Ordinal)
            .Select(d => new UnreachableDatabase(d.Key, d.Value.Since, d.Value.LastError)).ToList();
    }

    /// <summary>Each heartbeat interval, connects once to every unreachable database no running pair of this relay uses.</summary>
    private async Task ProbeUnreachableAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(Defaults.HeartbeatInterval, ct);
                var used = _running.Keys.SelectMany(p => new[] { p.Source, p.Target }).ToHashSet();
                var planned = _planned;
                var probes = Status.Unreached.Keys.Where(d => !used.Contains(d) && planned.ContainsKey(d))
                    .Select(d => ProbeAsync(planned[d], ct)).ToList();
                await Task.WhenAll(probes);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task ProbeAsync(Database db, CancellationToken ct)
    {
        try
        {
            await using (await Connect.OpenAsync(db, ct, "ferry probe", deadLinkBound: true))
            {
            }
            LogReachedAgain(db.Name);
            await Status.DatabaseAsync(db.Name, true, null, ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            // Still unreachable (or the store is): the next heartbeat's probe tries again; its since stays.
            LogProbeFailed(db.Name, e.Message);
        }
    }

    [LoggerMessage(EventId = 6, Level = LogLevel.Information, Message = "Database {Database} is reachable again from this relay")]
    private partial void LogReachedAgain(string database);

    [LoggerMessage(EventId = 7, Level = LogLevel.Debug, Message = "Database {Database} is still unreachable from this relay: {Error}")]
    private partial void LogProbeFailed(string database, string error);
}
