using Ferry.ControlStore;
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
        // The heartbeat has a pool of its own: on the relay's, it queued behind the status writes of the pairs it had
        // just started (a takeover) and came late enough for the watchdog to stop them.
        try
        {
            _beat = await Store.OpenAsync(store.Address, ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            LogHeartbeatFailed(e.Message);
        }
        var watchdog = WatchLeasesAsync(ct);
        var probe = ProbeUnreachableAsync(ct);
        var applier = ApplyLeasesAsync(ct);
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
                await HeartbeatAsync(ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        await watchdog;
        await probe;
        await applier;
        _beat?.Dispose();
    }

    private Store? _beat;

    // What the last good heartbeat decided, for the apply loop; replaced whole.
    private sealed record LeaseWish(IReadOnlySet<string> Run, IReadOnlySet<string> Surplus, RelayPlan Plan, string Digest);

    private LeaseWish? _wish;
    private readonly SemaphoreSlim _wished = new(0, 1);
    private CancellationTokenSource? _applying;

    /// <summary>
    /// Renews the leases and decides the share, on its beat whatever the pairs are doing: starting the pairs of syncs
    /// taken over (each reads the store) can outlast a short lease on a loaded host, and a renewal waiting for it would
    /// let the watchdog stop every pair, over and over. The apply loop acts on the decision.
    /// </summary>
    private async Task HeartbeatAsync(CancellationToken ct)
    {
        var began = Stopwatch.GetTimestamp();
        try
        {
            var beat = _beat ??= await Store.OpenAsync(store.Address, ct);
            var plan = await RelayPlan.ReadAsync(beat, ct);
            _planned = plan.Databases();
            var round = await beat.HeartbeatAsync(_identity!, plan.Syncs(), Defaults.LeaseTime, Unreachable(), ct);
            Volatile.Write(ref _renewedAt, began);
            Volatile.Write(ref _wish, new LeaseWish(round.Run, round.Surplus, plan, plan.Digest()));
            if (_wished.CurrentCount == 0) _wished.Release();
        }
        catch (SemaphoreFullException)
        {
            // The apply loop is already woken: it reads the latest wish.
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            LogHeartbeatFailed(e.Message);
        }
    }

    /// <summary>Starts and stops pairs to match the latest heartbeat's decision, then hands back the surplus it stopped.</summary>
    private async Task ApplyLeasesAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await _wished.WaitAsync(ct);
                var wish = Volatile.Read(ref _wish)!;
                await _reloading.WaitAsync(ct);
                try
                {
                    if (!wish.Run.SetEquals(_held!) || wish.Digest != _digest)
                    {
                        Hold(wish.Run);
                        _digest = wish.Digest;
                        // The watchdog cancels this when the renewals stop (a store lost meanwhile), so that it can take
                        // _reloading and stop the pairs in time.
                        using var applying = CancellationTokenSource.CreateLinkedTokenSource(_stopping);
                        Volatile.Write(ref _applying, applying);
                        var report = await ApplyAsync(wish.Plan.Only(wish.Run), applying.Token);
                        if (report.Changed) LogLeasesChanged(wish.Run.Count, report.ToString());
                    }
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    // A reload that failed half-way (a pair's seed read from the store): the next heartbeat applies again.
                    _digest = null;
                    LogHeartbeatFailed(e.Message);
                    continue;
                }
                finally
                {
                    Volatile.Write(ref _applying, null);
                    _reloading.Release();
                }
                // Only what no longer runs here is handed back: a relay that takes it cannot run it beside this one.
                var surplus = wish.Surplus.Where(s => !_held!.Contains(s)).ToList();
                if (surplus.Count == 0) continue;
                try
                {
                    await store.ReleaseLeasesAsync(_identity!.Id, surplus, ct);
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    // Not handed back: it expires by itself within the lease time, unless a renewal keeps it first; the
                    // next heartbeat decides it surplus again.
                    LogHeartbeatFailed(e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
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
                try
                {
                    Volatile.Read(ref _applying)?.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // That apply has just ended.
                }
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
        Message = "No lease renewal for {Seconds:0.0} s (the control store did not answer in time): stopped the pairs of {Syncs} syncs; another relay may take them")]
    private partial void LogLeasesLost(int syncs, double seconds);
}
