using System.Threading.Channels;
using Ferry.Install;
using Ferry.Postgres;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using NpgsqlTypes;

namespace Ferry.Capture.Wal;

/// <summary>
/// WAL capture of one source database (capture=wal), run by the relay in place of the triggers: reads the database's
/// slot through pgoutput, logs each committed transaction's keys into the change logs (<see cref="WalLogWriter"/>),
/// then wakes the pairs reading from it. From the change logs on, read, resolve and apply are the trigger mode's.
/// <para>
/// Exactly once: the slot's confirmed position moves only to transactions whose log entries have committed; a relay
/// killed in between is sent them again, and the writer skips those at or below its recorded position.
/// </para>
/// </summary>
public sealed partial class WalCapture(Database source, IReadOnlyList<TableName> tables, Action wake, ILogger logger)
{
    private static readonly TimeSpan StatusEvery = TimeSpan.FromSeconds(10);

    /// <summary>Called with the slot's state each time it is read (status, metrics).</summary>
    public Action<SlotState>? Observed { get; init; }

    /// <summary>The last error, null while capturing; shown as the database's.</summary>
    public string? LastError { get; private set; }

    // How often the logger, when nothing waits to be logged, looks at how far the stream has read: the walsender's
    // keepalives move that position without delivering anything, and applies waiting for it (ferry.wal_wait) see it
    // only once the slot is told.
    private static readonly TimeSpan IdlePoll = TimeSpan.FromMilliseconds(2);

    // While an apply into this database waits for the capture, how often it flushes the WAL (WalFlushDemand).
    private static readonly TimeSpan FlushEvery = TimeSpan.FromMilliseconds(4);

    // Transactions begun in the stream and not yet logged (or passed over): the slot may move to the stream's position
    // only while this is zero (see IdleConfirmAsync).
    private int _unlogged;

    public async Task RunAsync(CancellationToken ct)
    {
        var backoff = new Relay.Backoff(TimeSpan.FromMilliseconds(500), Defaults.MaxBackoff);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await CaptureAsync(ct, backoff);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or FerryException or IOException or TimeoutException or OperationCanceledException)
            {
                LastError = e.Message;
                LogFailed(source.Name, e.Message);
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

    private async Task CaptureAsync(CancellationToken ct, Relay.Backoff backoff)
    {
        await using var c = await Connect.OpenAsync(source, ct, "ferry wal", deadLinkBound: true);
        // The slot may forget a transaction once its log entries commit: they must be on disk by then, whatever the
        // server's default. It also makes the flushes waiting applies need (WalFlushDemand).
        await using (var sync = new NpgsqlCommand("SET synchronous_commit = on", c))
            await sync.ExecuteNonQueryAsync(ct);
        var slotName = await WalSlot.NameAsync(c, ct);
        if (await WalSlot.ReadAsync(c, slotName, ct) is { } seen) Observed?.Invoke(seen);
        await WalSlot.ThrowIfLostAsync(c, source, ct);
        var shapes = new List<TableShape>();
        foreach (var t in tables)
            shapes.Add(await TableCatalog.ReadAsync(c, t, ct) ?? throw new FerryException(TableGone.Message(t, source.Name)));
        string marker;
        await using (var cmd = new NpgsqlCommand("SELECT value FROM ferry.meta WHERE key = 'wal_marker'", c))
            marker = (string?)await cmd.ExecuteScalarAsync(ct)
                     ?? throw new FerryException($"Database {source.Name} has no wal_marker in ferry.meta: run ferry upgrade.");
        var writer = await WalLogWriter.OpenAsync(c, slotName, shapes, ct);
        var decoder = new WalDecoder(shapes.ToDictionary(s => s.Name, s => (IReadOnlyList<string>)s.Key), marker);

        await using var stream = new LogicalReplicationConnection(Connect.Builder(source, "ferry wal stream").ConnectionString);
        await stream.Open(ct);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var committed = Channel.CreateBounded<WalTransaction>(10_000);
        _unlogged = 0;
        var logging = Task.Run(async () =>
        {
            try
            {
                await LogAsync(c, slotName, stream, writer, committed.Reader, stop.Token);
            }
            finally
            {
                // A failed write ends the stream too: it is read again from the slot's confirmed position.
                await stop.CancelAsync();
            }
        }, CancellationToken.None);
        try
        {
            var options = new PgOutputReplicationOptions(WalPublication.Name, PgOutputProtocolVersion.V1, messages: true);
            await foreach (var message in stream.StartReplication(new PgOutputReplicationSlot(slotName), options, stop.Token))
            {
                if (message is Npgsql.Replication.PgOutput.Messages.BeginMessage) Interlocked.Increment(ref _unlogged);
                var tx = await decoder.HandleAsync(message, stop.Token);
                if (message is not Npgsql.Replication.PgOutput.Messages.CommitMessage commit) continue;
                // Every commit goes to the logger, in order; ferry's own and other tables' with nothing to log: the slot
                // may pass one of those only once every transaction before it is logged.
                await committed.Writer.WriteAsync(tx ?? WalTransaction.Nothing(commit.TransactionEndLsn), stop.Token);
                LastError = null;
                backoff.Reset();
            }
        }
        finally
        {
            committed.Writer.TryComplete();
            await stop.CancelAsync();
            try
            {
                await logging;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
        }
    }

    /// <summary>
    /// Logs what the stream committed, as many transactions a round as are waiting, and after each round tells the slot
    /// at once (an apply into this database may be waiting for it: ferry.wal_wait). When nothing is waiting, lets the
    /// slot move to where the stream has read, so that it holds no WAL nobody needs and waiting applies go on.
    /// </summary>
    private async Task LogAsync(NpgsqlConnection c, string slot, LogicalReplicationConnection stream, WalLogWriter writer,
        ChannelReader<WalTransaction> committed, CancellationToken ct)
    {
        var lastStatus = DateTime.UtcNow;
        var lastFlush = DateTime.MinValue;
        var stall = new WalStallCheck();
        var batch = new List<WalTransaction>();
        Task<bool>? ready = null;
        while (true)
        {
            ready ??= committed.WaitToReadAsync(ct).AsTask();
            if (!ready.IsCompleted)
            {
                await IdleConfirmAsync(stream, committed, ct);
                if (WalFlushDemand.Wanted(source.Name) && DateTime.UtcNow - lastFlush > FlushEvery)
                {
                    await using (var flush = new NpgsqlCommand("SELECT pg_current_xact_id()", c))
                        await flush.ExecuteNonQueryAsync(ct);
                    lastFlush = DateTime.UtcNow;
                }
                if (DateTime.UtcNow - lastStatus > StatusEvery)
                {
                    if (await WalSlot.ReadAsync(c, slot, ct) is { } seen)
                    {
                        Observed?.Invoke(seen);
                        stall.Check(stream.LastReceivedLsn, seen.Flushed, Volatile.Read(ref _unlogged) == 0 && committed.Count == 0, source.Name);
                    }
                    lastStatus = DateTime.UtcNow;
                }
                await Task.WhenAny(ready, Task.Delay(IdlePoll, ct));
                ct.ThrowIfCancellationRequested();
                if (!ready.IsCompleted) continue;
            }
            if (!await ready) return;
            ready = null;
            batch.Clear();
            while (batch.Count < 5000 && committed.TryRead(out var tx)) batch.Add(tx);
            var wrote = await writer.WriteAsync(batch, ct);
            Interlocked.Add(ref _unlogged, -batch.Count);
            await ConfirmAsync(stream, batch[^1].EndLsn, ct);
            if (wrote) wake();
        }
    }

    /// <summary>
    /// Nothing begun is unlogged and nothing waits: every transaction that ends at or before the stream's received
    /// position (a commit's end, or the walsender's keepalive: how far it has decoded) is logged or needs no logging.
    /// The position is read before the count, so a commit it covers was counted as begun by then.
    /// </summary>
    private async Task IdleConfirmAsync(LogicalReplicationConnection stream, ChannelReader<WalTransaction> committed, CancellationToken ct)
    {
        var received = stream.LastReceivedLsn;
        if (Volatile.Read(ref _unlogged) == 0 && committed.Count == 0) await ConfirmAsync(stream, received, ct);
    }

    private static async Task ConfirmAsync(LogicalReplicationConnection stream, NpgsqlLogSequenceNumber through, CancellationToken ct)
    {
        if (through <= stream.LastFlushedLsn) return;
        stream.SetReplicationStatus(through);
        try
        {
            await stream.SendStatusUpdate(ct);
        }
        catch (InvalidOperationException)
        {
            // The stream has ended: its reader fails and the capture starts again from the slot.
        }
    }

    [LoggerMessage(EventId = 900, Level = LogLevel.Warning, Message = "WAL capture of {Database} failed, retrying: {Message}")]
    private partial void LogFailed(string database, string message);
}
