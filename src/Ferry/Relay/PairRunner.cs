using System.Diagnostics;
using Ferry.Apply;
using Ferry.Install;
using Ferry.Postgres;
using Ferry.Progress;
using Ferry.Read;
using Npgsql;

namespace Ferry.Relay;

/// <summary>What one drain of a pair did.</summary>
public sealed record DrainResult(long Rows, int Chunks, long Bytes, long PendingBefore, double? OldestSeconds, TimeSpan Elapsed);

/// <summary>
/// The pipeline for one pair over two open connections: read a batch from the source, apply it to the target
/// chunk by chunk, each chunk committed with its cursor. No retry, no loop, no status: <see cref="PairWorker"/> adds
/// those, and <c>ferry debug run-once</c> uses this alone.
/// </summary>
public sealed class PairRunner : IAsyncDisposable
{
    private readonly PairSetup _setup;
    private readonly NpgsqlConnection _source;
    private readonly NpgsqlConnection _target;
    private readonly PairReader _reader;
    private readonly Applier _applier;
    private PairProgress? _progress;
    private DateTime _lastAdvance = DateTime.MinValue;

    private PairRunner(PairSetup setup, NpgsqlConnection source, NpgsqlConnection target, PairReader reader, Applier applier)
    {
        _setup = setup;
        _source = source;
        _target = target;
        _reader = reader;
        _applier = applier;
    }

    public NpgsqlConnection Source => _source;

    public static async Task<PairRunner> OpenAsync(PairSetup setup, CancellationToken ct)
    {
        var source = await Connect.OpenAsync(setup.Source, ct, "ferry read " + setup.Pair);
        NpgsqlConnection? target = null;
        try
        {
            target = await Connect.OpenAsync(setup.Target, ct, "ferry apply " + setup.Pair);
            var (read, apply) = await setup.BuildAsync(source, target, ct);
            var replicaRole = await GrantCheck.CanSetReplicationRoleAsync(target, ct);
            var reader = new PairReader(source, setup.Pair.Source, setup.SkipOrigins, read);
            var applier = new Applier(target, setup.Pair, setup.Order, setup.Sync.ConflictRule, apply, replicaRole);
            return new PairRunner(setup, source, target, reader, applier);
        }
        catch
        {
            await source.DisposeAsync();
            if (target is not null) await target.DisposeAsync();
            throw;
        }
    }

    /// <summary>Applies everything the source holds for the target now, in chunks of at most <paramref name="chunkRows"/>.</summary>
    public async Task<DrainResult> DrainAsync(int chunkRows, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        _progress ??= await PairProgress.LoadAsync(_target, _setup.Pair, ct);
        await _applier.PrepareAsync(ct);
        long rows = 0, bytes = 0, pendingBefore = -1;
        double? oldest = null;
        var chunks = 0;
        while (true)
        {
            var p = _progress;
            var plan = await _reader.BeginAsync(p.AppliedThrough ?? PairProgress.BeginningOfTime, p.ChunkTo,
                p.ChunkTable ?? 0, p.ChunkAfterKey, ct);
            if (p.SourceNodeId is { } known && known != plan.SourceNodeId)
            {
                await _reader.EndAsync(ct);
                throw new FerryException(
                    $"Database {_setup.Source.Name} is not the database this pair was replicating from (its ferry node id " +
                    $"changed from {known} to {plan.SourceNodeId}): it was replaced or re-installed. Ferry stopped this pair " +
                    "rather than skip changes; re-copy the tables, then reset the pair's progress.");
            }
            if (pendingBefore < 0)
            {
                pendingBefore = plan.Total;
                oldest = plan.OldestSeconds;
            }
            if (plan.IsEmpty)
            {
                await _reader.EndAsync(ct);
                // Move the stored snapshot now and then, so the xid range the next read scans stays short.
                // A heartbeat once a minute even when nothing changed, so the tombstone purger can tell a pair that
                // is idle from one that is away.
                var since = DateTime.UtcNow - _lastAdvance;
                if ((plan.Bounds.To != plan.Bounds.From && since > TimeSpan.FromSeconds(5)) || since > TimeSpan.FromSeconds(60))
                {
                    await _applier.AdvanceAsync(plan, ct);
                    _progress = p with { AppliedThrough = plan.Bounds.To, SourceNodeId = plan.SourceNodeId };
                    _lastAdvance = DateTime.UtcNow;
                }
                return new DrainResult(rows, chunks, bytes, pendingBefore, oldest, clock.Elapsed);
            }

            var chunk = Chunk.Plan(plan, chunkRows);
            foreach (var slice in chunk.Slices)
                bytes += await _reader.CopySliceAsync(slice, _target, _applier.CopyInSql(slice.Table), ct);
            await _reader.EndAsync(ct);
            await _applier.ApplyAsync(plan, chunk, ct);
            rows += chunk.Rows;
            chunks++;
            _progress = chunk.EndsBatch
                ? new PairProgress(plan.Bounds.To, null, null, null, plan.SourceNodeId)
                : await PairProgress.LoadAsync(_target, _setup.Pair, ct);
            if (chunk.EndsBatch)
                return new DrainResult(rows, chunks, bytes, pendingBefore, oldest, clock.Elapsed);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _source.DisposeAsync();
        await _target.DisposeAsync();
    }
}
