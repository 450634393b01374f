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

    // How often the logger, while an apply into this database is in flight and nothing waits to be logged, looks at
    // how far the stream has read: the walsender's keepalives move that position without delivering anything, and the
    // apply waiting for it (ferry.wal_wait) sees it only once the slot is told.
    private static readonly TimeSpan IdlePoll = TimeSpan.FromMilliseconds(2);

    // While no apply waits for the slot: rounds start at most this often, so a steady stream of single-row commits is
    // logged several to a transaction (each round is a synchronous commit on the source, a read by the pairs, and WAL
    // the walsender decodes); the first commit after a quiet spell starts its round at once. Measured (bench
    // capture_overhead, CPU per 1,000 application transactions in the log writer's backend): a round per commit 158 ms,
    // every 10 ms 52, every 25 ms 30; the price is up to this much more lag under a steady stream.
    private static readonly TimeSpan RoundEvery = TimeSpan.FromMilliseconds(25);

    // While no apply waits for the slot: how long the reader lets messages gather after a live commit (PauseAsync).
    private static readonly TimeSpan ReadPause = TimeSpan.FromMilliseconds(10);

    // While no apply waits for the slot: how often it is told how far the capture has logged (it frees WAL only).
    private static readonly TimeSpan ConfirmEvery = TimeSpan.FromMilliseconds(100);

    // What the walsender was last told, and when (ConfirmAsync).
    private NpgsqlLogSequenceNumber _told;
    private DateTime _toldAt;

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
        _told = default;
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
            await using var messages = stream.StartReplication(new PgOutputReplicationSlot(slotName), options, stop.Token)
                .GetAsyncEnumerator(stop.Token);
            var waited = false;
            while (true)
            {
                var next = messages.MoveNextAsync();
                waited |= !next.IsCompleted;
                if (!await next) break;
                var message = messages.Current;
                if (message is Npgsql.Replication.PgOutput.Messages.BeginMessage) Interlocked.Increment(ref _unlogged);
                var tx = await decoder.HandleAsync(message, stop.Token);
                if (message is not Npgsql.Replication.PgOutput.Messages.CommitMessage commit) continue;
                // Every commit goes to the logger, in order; ferry's own and other tables' with nothing to log: the slot
                // may pass one of those only once every transaction before it is logged.
                await committed.Writer.WriteAsync(tx ?? WalTransaction.Nothing(commit.TransactionEndLsn), stop.Token);
                LastError = null;
                backoff.Reset();
                if (waited) await PauseAsync(stop.Token);
                waited = false;
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
    /// After a commit the reader had to wait for (it is reading live, not a backlog), and while no apply into this
    /// database waits for the slot, lets the walsender's next messages gather for <see cref="ReadPause"/>. The walsender
    /// flushes each message on its own (begin, each change, commit, and a keepalive whenever it waits): read live, each
    /// was a wakeup of this process, about as much CPU per transaction as the application's own backend spent. Read
    /// after a pause, they come several to a socket read. A backlog is read without pauses: its messages are there.
    /// </summary>
    private async Task PauseAsync(CancellationToken ct)
    {
        var entered = WalFlushDemand.NextEntry(source.Name);
        if (WalFlushDemand.Wanted(source.Name)) return;
        await Task.WhenAny(Task.Delay(ReadPause, ct), entered);
        ct.ThrowIfCancellationRequested();
    }

    /// <summary>
    /// Logs what the stream committed, as many transactions a round as are waiting. While an apply into this database
    /// is in flight (it waits for the slot: ferry.wal_wait), a round starts as soon as anything is committed, the slot is
    /// told after each round, and when nothing is waiting it moves to where the stream has read, every 2 ms. While none
    /// is, nobody waits for the slot but the WAL it holds: rounds start at most every <see cref="RoundEvery"/> (the
    /// first after a quiet spell at once) and the slot is told every <see cref="ConfirmEvery"/>.
    /// </summary>
    private async Task LogAsync(NpgsqlConnection c, string slot, LogicalReplicationConnection stream, WalLogWriter writer,
        ChannelReader<WalTransaction> committed, CancellationToken ct)
    {
        var lastStatus = DateTime.UtcNow;
        var lastFlush = DateTime.MinValue;
        var roundStarted = DateTime.MinValue;
        var stall = new WalStallCheck();
        var batch = new List<WalTransaction>();
        Task<bool>? ready = null;
        while (true)
        {
            ready ??= committed.WaitToReadAsync(ct).AsTask();
            var entered = WalFlushDemand.NextEntry(source.Name);
            var wanted = WalFlushDemand.Wanted(source.Name);
            var pace = wanted ? TimeSpan.Zero : RoundEvery - (DateTime.UtcNow - roundStarted);
            if (!ready.IsCompleted || pace > TimeSpan.Zero)
            {
                await IdleConfirmAsync(stream, committed, wanted, ct);
                if (wanted && DateTime.UtcNow - lastFlush > FlushEvery)
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
                // Woken by the next commit (unless pacing), by an apply entering, or by the clock.
                var wait = wanted ? IdlePoll : ready.IsCompleted ? pace : ConfirmEvery;
                await Task.WhenAny(ready.IsCompleted ? entered : Task.WhenAny(ready, entered), Task.Delay(wait, ct));
                ct.ThrowIfCancellationRequested();
                continue;
            }
            if (!await ready) return;
            ready = null;
            roundStarted = DateTime.UtcNow;
            batch.Clear();
            while (batch.Count < 5000 && committed.TryRead(out var tx)) batch.Add(tx);
            var wrote = await writer.WriteAsync(batch, ct);
            Interlocked.Add(ref _unlogged, -batch.Count);
            await ConfirmAsync(stream, batch[^1].EndLsn, WalFlushDemand.Wanted(source.Name), ct);
            if (wrote) wake();
        }
    }

    /// <summary>
    /// Nothing begun is unlogged and nothing waits: every transaction that ends at or before the stream's received
    /// position (a commit's end, or the walsender's keepalive: how far it has decoded) is logged or needs no logging.
    /// The position is read before the count, so a commit it covers was counted as begun by then.
    /// </summary>
    private async Task IdleConfirmAsync(LogicalReplicationConnection stream, ChannelReader<WalTransaction> committed, bool now,
        CancellationToken ct)
    {
        var received = stream.LastReceivedLsn;
        var through = Volatile.Read(ref _unlogged) == 0 && committed.Count == 0 ? received : stream.LastFlushedLsn;
        await ConfirmAsync(stream, through, now, ct);
    }

    /// <summary>
    /// Moves the slot's position to <paramref name="through"/> (logged, or needing no logging), and tells the walsender
    /// now, or once <see cref="ConfirmEvery"/> has passed since it was last told. Each status update also lets the
    /// walsender send its next keepalive (it sends one whenever it waits with sent WAL unacknowledged, then waits for
    /// the reply): answering every one at once made a keepalive and an update per commit, even of other databases.
    /// </summary>
    private async Task ConfirmAsync(LogicalReplicationConnection stream, NpgsqlLogSequenceNumber through, bool now, CancellationToken ct)
    {
        if (through > stream.LastFlushedLsn) stream.SetReplicationStatus(through);
        if (stream.LastFlushedLsn <= _told || (!now && DateTime.UtcNow - _toldAt < ConfirmEvery)) return;
        try
        {
            await stream.SendStatusUpdate(ct);
            _told = stream.LastFlushedLsn;
            _toldAt = DateTime.UtcNow;
        }
        catch (InvalidOperationException)
        {
            // The stream has ended: its reader fails and the capture starts again from the slot.
        }
    }

    [LoggerMessage(EventId = 900, Level = LogLevel.Warning, Message = "WAL capture of {Database} failed, retrying: {Message}")]
    private partial void LogFailed(string database, string message);
}
