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

    public bool IsEmpty => Total == 0 && Truncates.Count == 0;
}

/// <summary>One table's slice of a chunk: up to <see cref="Limit"/> entries, after the cursor key when resuming.</summary>
public sealed record ChunkSlice(int Table, int Limit, bool AfterKey);

/// <summary>
/// A chunk: slices of one or more tables within the row budget. When the batch does not end with it, its cursor
/// is committed with it: the table to resume at and, when that table was cut mid-way (<see cref="CursorHasKey"/>),
/// the last key applied from it.
/// </summary>
public sealed record Chunk(IReadOnlyList<ChunkSlice> Slices, long Rows, int? CursorTable, bool CursorHasKey)
{
    public bool EndsBatch => CursorTable is null;

    /// <summary>Fills the row budget table by table, in apply order, from the plan's start.</summary>
    public static Chunk Plan(BatchPlan plan, int budget)
    {
        var slices = new List<ChunkSlice>();
        long rows = 0;
        for (var t = plan.Bounds.StartTable; t < plan.Pending.Length; t++)
        {
            var pending = plan.Pending[t];
            if (pending == 0) continue;
            var after = t == plan.Bounds.StartTable && plan.Bounds.AfterKey is not null;
            var room = budget - rows;
            if (room <= 0) return new Chunk(slices, rows, t, CursorHasKey: false);
            if (pending > room)
            {
                slices.Add(new ChunkSlice(t, (int)room, after));
                return new Chunk(slices, budget, t, CursorHasKey: true);
            }
            slices.Add(new ChunkSlice(t, (int)pending, after));
            rows += pending;
        }
        return new Chunk(slices, rows, null, false);
    }
}
