using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Ferry.Relay;

/// <summary>
/// Several relays on one PostgreSQL store divide the syncs by leases (<see cref="LeaseShare"/>): each heartbeat renews
/// this relay's leases, takes or hands back syncs, and reads the configuration, so a verb run on any host reaches
/// every relay within a heartbeat. A relay that cannot renew stops its pairs before its leases would expire, by its own
/// monotonic clock from the start of its last successful renewal, so it never runs a sync another relay may have
/// taken. Should a late chunk still land, the apply's position guard (PairProgress.GuardSql: a chunk commits only
/// over the position it read) refuses it. On a SQLite store there is one relay and it runs everything.
/// </summary>
public sealed partial class Relay
{
    private static readonly Gauge Leases = Metrics.CreateGauge("ferry_relay_leases",
        "Syncs this relay holds leases on, and so runs (several relays on one PostgreSQL store).", "relay");

    // Null: a SQLite store, every sync. Otherwise the syncs this relay holds; replaced under _reloading.
    private IReadOnlySet<string>? _held;
    private RelayIdentity? _identity;
    private string? _digest;
    private long _renewedAt;

    /// <summary>Where this relay's HTTP endpoint listens, registered for the other relays' status; set before it starts.</summary>
    public string? HttpAddress { get; set; }

    /// <summary>This relay's registration, when it shares a PostgreSQL store.</summary>
    public RelayIdentity? Identity => _identity;

    /// <summary>How many syncs this relay holds leases on (all it runs, on a SQLite store).</summary>
    public int LeaseCount => _held?.Count ?? _running.Keys.Select(p => p.Sync).Distinct().Count();

    private bool SharesStore => store.Address.IsPostgres;

    /// <summary>The first heartbeat, before any pair starts: a relay that cannot reach the store starts with none.</summary>
    private async Task<RelayPlan> FirstPlanAsync(CancellationToken ct)
    {
        var plan = await RelayPlan.ReadAsync(store, ct);
        if (!SharesStore) return plan;
        _identity = RelayIdentity.Of(HttpAddress, Defaults.RelayPrefers);
        _held = new HashSet<string>();
        try
        {
            var began = Stopwatch.GetTimestamp();
            _planned = plan.Databases();
            var round = await store.HeartbeatAsync(_identity, plan.Syncs(), Defaults.LeaseTime, [], ct);
            Volatile.Write(ref _renewedAt, began);
            Hold(round.Run);
            _digest = plan.Digest();
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            LogHeartbeatFailed(e.Message);
        }
        Hold(_held);
        return plan.Only(_held);
    }

    private void Hold(IReadOnlySet<string> syncs)
    {
        _held = syncs;
        Leases.WithLabels(_identity!.Id).Set(syncs.Count);
    }

    private async Task KeepLeasesAsync(CancellationToken ct)
    {
        if (!SharesStore) return;
        var watchdog = WatchLeasesAsync(ct);
        var probe = ProbeUnreachableAsync(ct);
        try
        {
            // At once, then on a fixed beat: the first renewal began before the pairs started, which may have taken a
            // while, and a beat counted from the end of the previous heartbeat would drift by each one's duration.
            var next = Stopwatch.GetTimestamp();
            while (!ct.IsCancellationRequested)
            {
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
                if (wait > TimeSpan.Zero) await Task.Delay(wait, ct);
                next = Stopwatch.GetTimestamp() + (long)(Defaults.HeartbeatInterval.TotalSeconds * Stopwatch.Frequency);
                try
                {
                    await HeartbeatAsync(ct);
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    // A reload that failed half-way (a pair's seed read from the store): the next heartbeat applies again.
                    _digest = null;
                    LogHeartbeatFailed(e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        await watchdog;
        await probe;
    }

    private async Task HeartbeatAsync(CancellationToken ct)
    {
        var began = Stopwatch.GetTimestamp();
        LeaseRound round;
        RelayPlan plan;
        try
        {
            plan = await RelayPlan.ReadAsync(store, ct);
            _planned = plan.Databases();
            round = await store.HeartbeatAsync(_identity!, plan.Syncs(), Defaults.LeaseTime, Unreachable(), ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            LogHeartbeatFailed(e.Message);
            return;
        }
        await _reloading.WaitAsync(ct);
        try
        {
            Volatile.Write(ref _renewedAt, began);
            var digest = plan.Digest();
            if (!round.Run.SetEquals(_held!) || digest != _digest)
            {
                Hold(round.Run);
                _digest = digest;
                // Starting pairs reads the store (their last lag): bounded by the watchdog's deadline, so a store lost
                // meanwhile cannot hold _reloading past it and keep the watchdog from stopping the pairs.
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping);
                var left = Defaults.LeaseTime * 0.75 - Stopwatch.GetElapsedTime(began);
                deadline.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1));
                var report = await ApplyAsync(plan.Only(round.Run), deadline.Token);
                if (report.Changed) LogLeasesChanged(round.Run.Count, report.ToString());
            }
        }
        finally
        {
            _reloading.Release();
        }
        if (round.Surplus.Count > 0)
        {
            try
            {
                await store.ReleaseLeasesAsync(_identity!.Id, round.Surplus, ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                // Not handed back: it expires by itself within the lease time.
                LogHeartbeatFailed(e.Message);
            }
        }
    }

    /// <summary>
    /// Stops every pair once three quarters of the lease time have passed since the last renewal began: the store may
    /// already count the lease from that instant, and the pairs get the rest of it to stop.
    /// </summary>
    private async Task WatchLeasesAsync(CancellationToken ct)
    {
        var lease = Defaults.LeaseTime;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Clamp(lease.TotalMilliseconds / 20, 50, 500)), ct);
                if (_held is not { Count: > 0 } || Stopwatch.GetElapsedTime(Volatile.Read(ref _renewedAt)) < lease * 0.75) continue;
                await _reloading.WaitAsync(ct);
                try
                {
                    if (_held is not { Count: > 0 } || Stopwatch.GetElapsedTime(_renewedAt) < lease * 0.75) continue;
                    LogLeasesLost(_held.Count, Stopwatch.GetElapsedTime(_renewedAt).TotalSeconds);
                    Hold(new HashSet<string>());
                    _digest = null;
                    await ApplyAsync(new RelayPlan(new Dictionary<Pair, PairSetup>(), new Dictionary<string, Database>()), _stopping,
                        TimeSpan.FromTicks(Math.Min(StopGrace.Ticks, (lease * 0.15).Ticks)));
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    LogHeartbeatFailed(e.Message);
                }
                finally
                {
                    _reloading.Release();
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>A relay stopping cleanly frees its leases at once, so the others need not wait for them to expire.</summary>
    private async Task LeaveAsync()
    {
        if (_identity is null) return;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await store.LeaveAsync(_identity.Id, timeout.Token);
            Leases.RemoveLabelled(_identity.Id);
        }
        catch (Exception e)
        {
            LogHeartbeatFailed(e.Message);
        }
    }

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Cannot renew this relay's leases in the control store: {Error}")]
    private partial void LogHeartbeatFailed(string error);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Leases: this relay holds {Syncs} syncs; {Report}")]
    private partial void LogLeasesChanged(int syncs, string report);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error,
        Message = "No lease renewal for {Seconds:0.0} s (the control store is unreachable): stopped the pairs of {Syncs} syncs; another relay may take them")]
    private partial void LogLeasesLost(int syncs, double seconds);
}
