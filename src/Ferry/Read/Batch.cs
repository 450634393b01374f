namespace Ferry.Read;

/// <summary>The snapshots a batch reads between, and where inside it the current chunk starts.</summary>
public sealed record BatchBounds(string From, string To, int StartTable, string[]? AfterKey);

/// <summary>A table-wide tombstone: rows of the table older than <see cref="Version"/> are dead.</summary>
public sealed record TruncateEntry(TableName Table, DateTime Version, string Origin);

/// <summary>
/// What a source holds for a pair in one read transaction: how many entries per table (from the cursor on), how old
/// the oldest is, and the truncates. Plain data, so the read stage can run alone (<c>ferry debug read-once</c>).
/// </summary>
public sealed record BatchPlan(BatchBounds Bounds, string SourceNodeId, long[] Pending, double? OldestSeconds,
    IReadOnlyList<TruncateEntry> Truncates)
{
    public long Total => Pending.Sum();

    /// <summary>
    /// Per table (null where not fetched), the first entries after the cursor as text rows, read with the plan in the
    /// same round trip; a slice they cover travels inside the apply's batch instead of by COPY.
    /// </summary>
    public IReadOnlyList<InlineRows?> Inline { get; init; } = [];

    /// <summary>The slice's rows when the inline fetch holds all of them, else null (the slice goes by COPY).</summary>
    public InlineRows? InlineFor(ChunkSlice slice) =>
        slice.Table < Inline.Count && Inline[slice.Table] is { } rows && rows.Rows.Count >= slice.Limit ? rows : null;

    public bool IsEmpty => Total == 0 && Truncates.Count == 0;

    /// <summary>Whether this read opened the batch (its first chunk), rather than resumed it at a stored cursor.</summary>
    public bool StartsBatch { get; init; }

    /// <summary>The source's column fingerprints (<c>ferry.shapes</c>) in the read's snapshot; null where not asked.</summary>
    public IReadOnlyList<string>? SourceShapes { get; init; }

    /// <summary>Per table, the key of the batch's latest entry from the cursor on, as text (null where none or not read).</summary>
    public IReadOnlyList<string[]?> SampleKeys { get; init; } = [];

    /// <summary>Per table, about how many rows it holds on the source (0 where not read).</summary>
    public IReadOnlyList<double> TableRows { get; init; } = [];

    /// <summary>Whether a whole slice of <paramref name="entries"/> entries is enough of its table to hash-join it.</summary>
    public bool HashWorthy(int table, long entries) => table < TableRows.Count && entries * 8 >= TableRows[table];
}

/// <summary>Entries read as text rows: the table's columns, then version, origin, based-on and deleted.</summary>
public sealed record InlineRows(IReadOnlyList<string?[]> Rows, long Chars)
{
    /// <summary>Column <paramref name="column"/> of the first <paramref name="count"/> rows, for an unnest() parameter.</summary>
    public string?[] Column(int column, int count) => Rows.Take(count).Select(r => r[column]).ToArray();
}

/// <summary>
/// One table's slice of a chunk: up to <see cref="Limit"/> entries, after the cursor key when resuming. A
/// <see cref="Whole"/> slice takes everything the table has left in the batch, so it needs no ordering and no limit.
/// </summary>
public sealed record ChunkSlice(int Table, int Limit, bool AfterKey, bool Whole = false, bool Hash = false);

/// <summary>
/// A chunk: slices of one or more tables within the row budget. When the batch does not end with it, its cursor
/// is committed with it: the table to resume at and, when that table was cut mid-way (<see cref="CursorHasKey"/>),
/// the last key applied from it.
/// </summary>
public sealed record Chunk(IReadOnlyList<ChunkSlice> Slices, long Rows, int? CursorTable, bool CursorHasKey)
{
    public bool EndsBatch => CursorTable is null;

    /// <summary>Fills the row budget table by table, in apply order, from the plan's start.</summary>
    public static Chunk Plan(BatchPlan plan, int budget) => Plan(plan, budget, long.MaxValue, _ => 0, budget);

    /// <summary>
    /// Fills the row budget and the byte budget table by table, in apply order, from the plan's start. Bytes are
    /// estimated from each table's row width seen before (<paramref name="bytesPerRow"/>); a table not seen yet
    /// gets a probe slice of at most <paramref name="probeRows"/> and ends the chunk, so one chunk of unknown wide
    /// rows cannot be arbitrarily large.
    /// </summary>
    public static Chunk Plan(BatchPlan plan, int budget, long byteBudget, Func<int, double?> bytesPerRow, int probeRows)
    {
        var slices = new List<ChunkSlice>();
        long rows = 0;
        double bytes = 0;
        var full = false;
        for (var t = plan.Bounds.StartTable; t < plan.Pending.Length; t++)
        {
            var pending = plan.Pending[t];
            if (pending == 0) continue;
            var after = t == plan.Bounds.StartTable && plan.Bounds.AfterKey is not null;
            var room = budget - rows;
            if (room <= 0 || full || bytes >= byteBudget) return new Chunk(slices, rows, t, CursorHasKey: false);
            var width = bytesPerRow(t);
            room = width is { } w
                ? Math.Min(room, w <= 0 ? room : Math.Max(1, (long)((byteBudget - bytes) / w)))
                : Math.Min(room, Math.Max(1, probeRows));
            full = width is null;
            if (pending > room)
            {
                slices.Add(new ChunkSlice(t, (int)room, after));
                return new Chunk(slices, rows + room, t, CursorHasKey: true);
            }
            slices.Add(new ChunkSlice(t, (int)pending, after, Whole: true, Hash: plan.HashWorthy(t, pending)));
            rows += pending;
            bytes += pending * (width ?? 0);
        }
        return new Chunk(slices, rows, null, false);
    }
}
