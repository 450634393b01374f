namespace Ferry.Relay;

/// <summary>
/// How big a pair's next chunk may be: at most <see cref="MaxRows"/> rows and about <see cref="MaxBytes"/> bytes
/// (FERRY_CHUNK_ROWS, FERRY_CHUNK_BYTES), and within that a row budget that adapts to the link. The rule is simple on
/// purpose: a full chunk that committed faster than the target time doubles the budget, one that took over twice
/// that halves it, and a failed chunk halves it. A reset costs at most one chunk, so on a link that resets often
/// chunks get smaller; on a long link, fewer and larger chunks spend fewer round trips per row. The target time is
/// <see cref="Fast"/>, or ten round trips of the link when that is longer: a chunk costs about three round trips,
/// so at ten it spends at most a third of its time waiting on the link.
/// It lives as long as the pair's worker, across reconnects; its bytes-per-row figures are learned per table.
/// </summary>
public sealed class ChunkSizer
{
    public static readonly TimeSpan Fast = TimeSpan.FromSeconds(1);
    private readonly Dictionary<int, double> _bytesPerRow = [];
    private TimeSpan _roundTrip;
    private readonly bool _adaptive;

    public ChunkSizer(int minRows, int maxRows, long maxBytes, int startRows, bool adaptive = true)
    {
        MinRows = Math.Max(1, Math.Min(minRows, maxRows));
        MaxRows = Math.Max(MinRows, maxRows);
        MaxBytes = Math.Max(1, maxBytes);
        Rows = Math.Clamp(startRows, MinRows, MaxRows);
        _adaptive = adaptive;
    }

    /// <summary>
    /// The configured bounds, adapting between them, starting at the largest: a healthy link drains a backlog in the
    /// fewest chunks (each costs a count, a COPY and a commit), and a flaky one halves it at its first failure.
    /// </summary>
    public static ChunkSizer FromDefaults() =>
        new(Defaults.ChunkRowsMin, Defaults.ChunkRows, Defaults.ChunkBytes, Defaults.ChunkRows);

    /// <summary>Always <paramref name="rows"/> rows (bytes still bounded): for tests and tools that want fixed chunks.</summary>
    public static ChunkSizer Fixed(int rows, ChunkSizer? learnedFrom = null)
    {
        var sizer = new ChunkSizer(rows, rows, Defaults.ChunkBytes, rows, adaptive: false);
        foreach (var (table, width) in learnedFrom?._bytesPerRow ?? []) sizer._bytesPerRow[table] = width;
        return sizer;
    }

    public int MinRows { get; }

    public int MaxRows { get; }

    public long MaxBytes { get; }

    /// <summary>The row budget of the next chunk.</summary>
    public int Rows { get; private set; }

    /// <summary>Bytes per row last seen for a table (its position in the pair's apply order); null before its first slice.</summary>
    public double? BytesPerRow(int table) => _bytesPerRow.TryGetValue(table, out var b) ? b : null;

    /// <summary>At most this many entries per table are read along with the plan, as text, to skip COPY for small chunks.</summary>
    public const int InlineMaxRows = 1_000;

    /// <summary>How many entries of a table to read along with the plan (the read also stops at about 1 MiB of them).</summary>
    public int InlineRows(int table) => Math.Min(InlineMaxRows, Rows);

    /// <summary>Learns a table's row width from a slice that was copied.</summary>
    public void Copied(int table, long rows, long bytes)
    {
        if (rows > 0) _bytesPerRow[table] = Math.Max(1, (double)bytes / rows);
    }

    /// <summary>The time a chunk should take: <see cref="Fast"/>, or ten of the link's round trips if longer.</summary>
    public TimeSpan TargetTime => _roundTrip * 10 > Fast ? _roundTrip * 10 : Fast;

    /// <summary>A round trip seen on the pair's links (a COPY starting on both): the latest one counts.</summary>
    public void RoundTrip(TimeSpan seen) => _roundTrip = seen;

    /// <summary>A chunk of <paramref name="rows"/> committed in <paramref name="elapsed"/>, with <paramref name="budget"/> rows allowed.</summary>
    public void Committed(long rows, int budget, TimeSpan elapsed)
    {
        if (!_adaptive) return;
        // Only a full chunk says how the link copes with the budget; a short one (the batch ended) says nothing.
        if (rows >= budget && elapsed < TargetTime) Rows = (int)Math.Min(MaxRows, (long)Rows * 2);
        else if (elapsed > TargetTime * 2 && elapsed > Fast * 3) Rows = Math.Max(MinRows, Rows / 2);
    }

    private readonly Dictionary<int, DateTime> _directRefusedUntil = [];

    /// <summary>How long a table whose rows could not go straight in goes through the temporary table.</summary>
    public static readonly TimeSpan DirectPause = TimeSpan.FromMinutes(10);

    /// <summary>Whether a whole slice of this table may be copied straight into it (plain targets only).</summary>
    public bool MayCopyDirect(int table) => !_directRefusedUntil.TryGetValue(table, out var until) || DateTime.UtcNow >= until;

    /// <summary>
    /// Rows copied straight in were refused (a row already there, a delete among them, a constraint): the slice went
    /// the usual way, and so do the table's next ones for a while, so an update-heavy table pays for this once.
    /// </summary>
    public void DirectRefused(int table) => _directRefusedUntil[table] = DateTime.UtcNow + DirectPause;

    /// <summary>A chunk failed (reset, timeout): the next one is smaller, so a flaky link wastes less.</summary>
    public void Failed()
    {
        if (_adaptive) Rows = Math.Max(MinRows, Rows / 2);
    }
}
