using Ferry.Postgres;
using Ferry.Progress;
using Ferry.Read;
using Npgsql;

namespace Ferry.Relay;

/// <summary>The COPYs of a chunk: into the temporary tables, or, on a plain target, straight into the tables.</summary>
public sealed partial class PairRunner
{
    /// <summary>Tables whose rows the current chunk copies straight in.</summary>
    private HashSet<int> _direct = [];

    /// <summary>COPYs the current chunk started, a refused attempt's included: each costs its round trips.</summary>
    private int _copiesStarted;

    /// <summary>Below this many entries a slice goes through the temporary table: its second write costs little.</summary>
    public const int DirectMinRows = 10_000;

    /// <summary>
    /// Whether a slice's rows go straight into the table (no temporary table, no second write): on a plain target
    /// only, for a whole slice large enough to matter, when no truncate is applied with the chunk (it would run after
    /// the COPY and remove what it wrote), and not while the table is paused after a refusal.
    /// </summary>
    private bool CopiesDirect(BatchPlan plan, ChunkSlice slice, ChunkSizer sizer) =>
        slice.Whole && slice.Limit >= DirectMinRows && plan.InlineFor(slice) is null
        && _applier.CopyDirectSql(slice.Table) is not null && sizer.MayCopyDirect(slice.Table)
        && (plan.Truncates.Count == 0 || !plan.StartsBatch);

    /// <summary>
    /// The tables of the chunk whose slices go straight in: those <see cref="CopiesDirect"/> allows, less those whose
    /// sampled key (<see cref="BatchPlan.SampleKeys"/>) the target already has a row for. An application's bulk UPDATE
    /// or DELETE would be refused there only after the whole slice was read and copied, and then read again (for
    /// 100,000 updated rows that cost a third of the time to a replica); the question costs one round trip on the
    /// target, asked only for slices that could go straight in, and new rows still go straight in.
    /// </summary>
    private async Task<HashSet<int>> DirectTablesAsync(BatchPlan plan, Chunk chunk, ChunkSizer sizer, CancellationToken ct)
    {
        var direct = new HashSet<int>();
        foreach (var slice in chunk.Slices.Where(slice => CopiesDirect(plan, slice, sizer)))
        {
            if (slice.Table < plan.SampleKeys.Count && plan.SampleKeys[slice.Table] is { } key)
            {
                await using var probe = new NpgsqlCommand(_applier.Tables[slice.Table].HasRow, _target);
                probe.Parameters.Add(new NpgsqlParameter { Value = key });
                if ((bool)(await probe.ExecuteScalarAsync(ct))!) continue;
            }
            direct.Add(slice.Table);
        }
        return direct;
    }

    /// <summary>COPYs the chunk's slices that did not ride with the plan; returns the bytes copied.</summary>
    private async Task<long> CopyChunkAsync(BatchPlan plan, Chunk chunk, ChunkSizer sizer, CancellationToken ct)
    {
        long bytes = 0;
        foreach (var slice in chunk.Slices)
        {
            if (plan.InlineFor(slice) is not null) continue; // read with the plan, applied with the chunk: no COPY
            long copied;
            _copiesStarted++;
            try
            {
                if (_direct.Contains(slice.Table))
                {
                    (copied, var rows) = await _reader.CopyRowsAsync(slice, _target, _applier.CopyDirectSql(slice.Table)!, ct);
                    // Entries without a row are deletes, which only the temporary table's way applies.
                    if (rows != slice.Limit) throw new DirectRefused();
                }
                else
                {
                    copied = await _reader.CopySliceAsync(slice, _target, _applier.CopyInSql(slice.Table), ct);
                }
            }
            catch (PostgresException e) when (TableError.HoldsFor(e) && (!_direct.Contains(slice.Table) || !PgErrors.IsDataRefusal(e)))
            {
                // Reading the table's rows or landing them in its temporary table: a grant, a column, a value.
                throw new TableError(slice.Table, e);
            }
            sizer.Copied(slice.Table, slice.Limit, copied);
            sizer.RoundTrip(_reader.LastCopyStart);
            bytes += copied;
        }
        return bytes;
    }

    /// <summary>A slice copied straight in held deletes.</summary>
    private sealed class DirectRefused : Exception;
}
