using System.Collections.Concurrent;

namespace Ferry.Relay;

/// <summary>A pair's lag at one moment, as the relay knew it then (stale: the last known figure).</summary>
public sealed record LagSample(DateTimeOffset At, long? Rows, double? Seconds, bool Stale);

/// <summary>A conflict a pair's apply recorded in its target's <c>ferry.conflicts</c>.</summary>
public sealed record RecentConflict(DateTimeOffset DecidedAt, string Sync, string Source, string Target, string Table,
    string Key, string Winner, string Rule, long Id);

/// <summary>An error a pair met: since when, last seen, how many times in a row, and whether it still stands.</summary>
public sealed record RecentError(string Sync, string Source, string Target, string State, string Message,
    DateTimeOffset Since, DateTimeOffset LastSeen, int Times);

/// <summary>
/// What the page shows beside the current figures: each pair's lag over the last hour, and the recent conflicts and
/// errors. All of it in memory, bounded, learnt as the relay works: a page load queries no database.
/// </summary>
public sealed partial class RelayStatus
{
    public static readonly TimeSpan HistorySpan = TimeSpan.FromHours(1);

    /// <summary>How many recent conflicts and errors are kept, over all pairs.</summary>
    public const int RecentKept = 20;

    private readonly ConcurrentDictionary<Pair, Queue<LagSample>> _history = new();
    private readonly LinkedList<RecentConflict> _conflicts = new();
    private readonly LinkedList<RecentError> _errors = new();

    /// <summary>Samples every pair's lag now, dropping what is older than <see cref="HistorySpan"/>.</summary>
    public void SampleLag(DateTimeOffset now)
    {
        // Bounded by count too, so a clock stepping back cannot grow a ring without end.
        var capacity = (int)Math.Min(100_000, Math.Ceiling(HistorySpan / Defaults.LagSampleInterval) + 1);
        foreach (var (pair, lag) in _lag)
        {
            var ring = _history.GetOrAdd(pair, _ => new Queue<LagSample>());
            lock (ring)
            {
                ring.Enqueue(new LagSample(now, lag.Rows, lag.Seconds, lag.Stale));
                while (ring.Count > capacity || ring.Peek().At < now - HistorySpan) ring.Dequeue();
            }
        }
    }

    /// <summary>Samples each pair's lag every <see cref="Defaults.LagSampleInterval"/> until stopped.</summary>
    public async Task SampleLagAsync(CancellationToken ct)
    {
        try
        {
            using var timer = new PeriodicTimer(Defaults.LagSampleInterval);
            SampleLag(DateTimeOffset.UtcNow);
            while (await timer.WaitForNextTickAsync(ct)) SampleLag(DateTimeOffset.UtcNow);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>The pair's samples over the last hour, oldest first.</summary>
    public IReadOnlyList<LagSample> LagHistoryOf(Pair pair)
    {
        if (!_history.TryGetValue(pair, out var ring)) return [];
        lock (ring) return ring.ToList();
    }

    /// <summary>Conflicts a pair's apply just recorded; an id seen before (read twice) is kept once.</summary>
    public void ConflictsRecorded(IEnumerable<RecentConflict> conflicts)
    {
        lock (_conflicts)
        {
            foreach (var c in conflicts.OrderBy(c => c.Id))
            {
                if (_conflicts.Any(k => k.Id == c.Id && k.Target == c.Target)) continue;
                _conflicts.AddFirst(c);
                if (_conflicts.Count > RecentKept) _conflicts.RemoveLast();
            }
        }
    }

    /// <summary>The last <see cref="RecentKept"/> conflicts, newest first.</summary>
    public IReadOnlyList<RecentConflict> RecentConflicts
    {
        get
        {
            lock (_conflicts) return _conflicts.OrderByDescending(c => c.DecidedAt).ToList();
        }
    }

    /// <summary>The last <see cref="RecentKept"/> errors, the latest first; a pair failing the same way again counts.</summary>
    public IReadOnlyList<RecentError> RecentErrors
    {
        get
        {
            lock (_errors) return _errors.ToList();
        }
    }

    private void ErrorSeen(Pair pair, string state, string message, DateTimeOffset now)
    {
        lock (_errors)
        {
            var same = _errors.FirstOrDefault(e => e.Sync == pair.Sync && e.Source == pair.Source && e.Target == pair.Target);
            if (same is not null && same.Message == message)
            {
                _errors.Remove(same);
                _errors.AddFirst(same with { State = state, LastSeen = now, Times = same.Times + 1 });
                return;
            }
            _errors.AddFirst(new RecentError(pair.Sync, pair.Source, pair.Target, state, message, now, now, 1));
            if (_errors.Count > RecentKept) _errors.RemoveLast();
        }
    }
}
