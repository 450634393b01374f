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

    // Transactions begun in the stream and not yet logged (or dropped): the slot may move past a skipped transaction
    // only while this is zero (see IdleConfirm).
    private int _unlogged;

    private long _skippedEnd;

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
                if (message is not Npgsql.Replication.PgOutput.Messages.CommitMessage) continue;
                if (tx is null)
                {
                    // Ferry's own, or none of the herds' tables: nothing to log, the slot may pass it once all before it are logged.
                    Interlocked.Exchange(ref _skippedEnd, (long)(ulong)((Npgsql.Replication.PgOutput.Messages.CommitMessage)message).TransactionEndLsn);
                    Interlocked.Decrement(ref _unlogged);
                }
                else await committed.Writer.WriteAsync(tx, stop.Token);
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
    /// Logs what the stream committed, as many transactions a round as are waiting, and after each round lets the slot
    /// forget them. When nothing is waiting, lets it pass the transactions that needed no logging (ferry's own, other
    /// tables'), so that the slot does not hold WAL nobody needs.
    /// </summary>
    private async Task LogAsync(NpgsqlConnection c, string slot, LogicalReplicationConnection stream, WalLogWriter writer,
        ChannelReader<WalTransaction> committed, CancellationToken ct)
    {
        var lastStatus = DateTime.UtcNow;
        var batch = new List<WalTransaction>();
        while (true)
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
            wait.CancelAfter(TimeSpan.FromSeconds(1));
            try
            {
                if (!await committed.WaitToReadAsync(wait.Token)) return;
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                IdleConfirm(stream);
                if (DateTime.UtcNow - lastStatus > StatusEvery)
                {
                    if (await WalSlot.ReadAsync(c, slot, ct) is { } seen) Observed?.Invoke(seen);
                    lastStatus = DateTime.UtcNow;
                }
                continue;
            }
            batch.Clear();
            while (batch.Count < 5000 && committed.TryRead(out var tx)) batch.Add(tx);
            var wrote = await writer.WriteAsync(batch, ct);
            stream.SetReplicationStatus(batch[^1].EndLsn);
            Interlocked.Add(ref _unlogged, -batch.Count);
            if (wrote) wake();
        }
    }

    /// <summary>
    /// Nothing begun is unlogged: the slot may pass the last transaction that needed no logging. Not the stream's
    /// received position: a message's WAL end is the server's, past commits not yet sent, which a relay killed then
    /// would never be sent again.
    /// </summary>
    private void IdleConfirm(LogicalReplicationConnection stream)
    {
        var skipped = new NpgsqlLogSequenceNumber((ulong)Interlocked.Read(ref _skippedEnd));
        if (Volatile.Read(ref _unlogged) == 0 && skipped > stream.LastFlushedLsn) stream.SetReplicationStatus(skipped);
    }

    [LoggerMessage(EventId = 900, Level = LogLevel.Warning, Message = "WAL capture of {Database} failed, retrying: {Message}")]
    private partial void LogFailed(string database, string message);
}
