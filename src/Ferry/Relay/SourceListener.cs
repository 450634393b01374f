using System.Threading.Channels;
using Ferry.Capture;
using Ferry.Postgres;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ferry.Relay;

/// <summary>
/// One LISTEN connection per source database, ringing the wakeups of the pairs that read from it. It only makes
/// replication prompt: pairs poll anyway, so a lost notification or a dead listener delays, never loses.
/// <para>
/// It also works the <see cref="Doorbell"/>: armed (the lock held) while the pairs wait, so that the first write
/// rings them; disarmed as soon as a ring came, so that the writes that follow while the pairs are busy reading
/// do not each pay for a NOTIFY. Arming waits for the writes that did not ring to end, then wakes the pairs once,
/// so that what they committed is read.
/// </para>
/// </summary>
public sealed partial class SourceListener
{
    private static readonly TimeSpan ArmWait = TimeSpan.FromMilliseconds(200);
    private readonly Database _source;
    private readonly ILogger _logger;

    // Copied on write: a reload adds and removes pairs while notifications ring the current set.
    private Wakeup[] _wakeups = [];
    private readonly Lock _gate = new();

    // A pair about to wait for work asks for the doorbell to be armed. Requests coalesce.
    private readonly Channel<bool> _armWanted = Channel.CreateBounded<bool>(new BoundedChannelOptions(1)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
    });

    private volatile bool _notified;

    public SourceListener(Database source, IEnumerable<Wakeup> wakeups, ILogger logger)
    {
        _source = source;
        _logger = logger;
        foreach (var w in wakeups) Add(w);
    }

    /// <summary>A pair that reads from this source starts: its waits arm the doorbell, and rings reach it.</summary>
    public void Add(Wakeup wakeup)
    {
        lock (_gate)
        {
            if (_wakeups.Contains(wakeup)) return;
            wakeup.Waiting += WantArmed;
            _wakeups = [.. _wakeups, wakeup];
        }
    }

    /// <summary>A pair stopped: the listener goes on for the others (a listener with none is stopped by the relay).</summary>
    public void Remove(Wakeup wakeup)
    {
        lock (_gate)
        {
            wakeup.Waiting -= WantArmed;
            _wakeups = _wakeups.Where(w => w != wakeup).ToArray();
        }
    }

    private void WantArmed() => _armWanted.Writer.TryWrite(true);

    public async Task RunAsync(CancellationToken ct)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(500), Defaults.MaxBackoff);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var c = await Connect.OpenAsync(_source, ct, "ferry listen", deadLinkBound: true);
                c.Notification += (_, _) =>
                {
                    _notified = true;
                    RingAll();
                };
                await ExecAsync(c, $"LISTEN {Quote.Ident(Defaults.Channel)}; SET lock_timeout = {(int)ArmWait.TotalMilliseconds}", ct);
                var armed = await ArmAsync(c, ct);
                RingAll(); // anything committed while we were not listening
                backoff.Reset();
                while (!ct.IsCancellationRequested)
                {
                    if (armed)
                    {
                        _notified = false;
                        if (!await c.WaitAsync(Defaults.DeadLinkTimeout / 3, ct)) await PingAsync(c, ct);
                        if (!_notified) continue;
                        // The pairs are rung and will read: let the writes that follow go unrung until one waits again.
                        await ExecAsync(c, $"SELECT pg_advisory_unlock({Doorbell.Arguments})", ct);
                        armed = false;
                        while (_armWanted.Reader.TryRead(out _)) { } // asked before this ring: stale
                    }
                    else if (await WantedAsync(ct))
                    {
                        armed = await ArmAsync(c, ct);
                        RingAll();
                        // A long write transaction kept the lock: the pairs read what is committed, and we try again.
                        if (!armed) _armWanted.Writer.TryWrite(true);
                    }
                    else
                    {
                        await PingAsync(c, ct);
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogLost(_source.Name, e.Message);
                try
                {
                    await Task.Delay(backoff.Next(), ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Takes the doorbell lock, waiting at most <see cref="ArmWait"/> for the writes that hold it shared.</summary>
    private static async Task<bool> ArmAsync(NpgsqlConnection c, CancellationToken ct)
    {
        try
        {
            await ExecAsync(c, $"SELECT pg_advisory_lock({Doorbell.Arguments})", ct);
            return true;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable)
        {
            return false;
        }
    }

    /// <summary>Waits until a pair asks for the doorbell, up to a third of the dead-link bound.</summary>
    private async Task<bool> WantedAsync(CancellationToken ct)
    {
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timer.CancelAfter(Defaults.DeadLinkTimeout / 3);
        try
        {
            await _armWanted.Reader.WaitToReadAsync(timer.Token);
            return _armWanted.Reader.TryRead(out _);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Silence: make sure the link is alive, or fail within the dead-link bound.</summary>
    private static async Task PingAsync(NpgsqlConnection c, CancellationToken ct)
    {
        await using var ping = new NpgsqlCommand("SELECT 1", c) { CommandTimeout = Connect.DeadLinkCommandSeconds };
        await ping.ExecuteScalarAsync(ct);
    }

    private static async Task ExecAsync(NpgsqlConnection c, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, c) { CommandTimeout = Connect.DeadLinkCommandSeconds };
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Rings every pair reading from this source (also WAL capture's, after it logged changes: they NOTIFY nobody).</summary>
    public void RingAll()
    {
        foreach (var w in Volatile.Read(ref _wakeups)) w.Ring();
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Debug, Message = "Listener on {Database} lost: {Message}")]
    private partial void LogLost(string database, string message);
}
