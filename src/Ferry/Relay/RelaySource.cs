using Ferry.Capture.Wal;
using Microsoft.Extensions.Logging;

namespace Ferry.Relay;

/// <summary>
/// What the relay runs per source database, beside the pairs that read from it: the <see cref="SourceListener"/>, and,
/// for a database that captures by WAL (capture=wal), the <see cref="WalCapture"/> that reads its slot into the change
/// logs and rings the same pairs. Both stop together. It lives while some running pair reads from the database, and is
/// started again when the database's connection settings change, or (WAL) the tables read from it (<see cref="Definition"/>).
/// </summary>
public sealed class RelaySource
{
    private readonly CancellationTokenSource _stop;
    private readonly List<Task> _tasks = [];

    private RelaySource(Database database, string definition, SourceListener listener, CancellationTokenSource stop)
    {
        Database = database;
        Listener = listener;
        _stop = stop;
        Definition = definition;
    }

    public Database Database { get; }

    /// <summary>What this source was started with: a different one starts it again.</summary>
    public string Definition { get; }

    public SourceListener Listener { get; }

    /// <summary>The connection, and for WAL capture the tables it captures (every herd table some pair reads from it).</summary>
    public static string DefinitionOf(Database database, IReadOnlyList<TableName> tables) =>
        database.CapturesWal
            ? RelayPlan.Definition(database) + "\nwal=" + string.Join("\n", tables.Select(t => t.ToString()).Order(StringComparer.Ordinal))
            : RelayPlan.Definition(database);

    public static RelaySource Start(Database database, IReadOnlyList<TableName> tables, Action<SlotState> slotObserved,
        ILoggerFactory loggers, CancellationToken relayStopping)
    {
        var stop = CancellationTokenSource.CreateLinkedTokenSource(relayStopping);
        var source = new RelaySource(database, DefinitionOf(database, tables),
            new SourceListener(database, [], loggers.CreateLogger("ferry.listen")), stop);
        source._tasks.Add(Task.Run(() => source.Listener.RunAsync(stop.Token), CancellationToken.None));
        if (database.CapturesWal)
        {
            var capture = new WalCapture(database, tables, source.Listener.RingAll, loggers.CreateLogger("ferry.wal"))
            {
                Observed = slotObserved,
            };
            source._tasks.Add(Task.Run(() => capture.RunAsync(stop.Token), CancellationToken.None));
        }
        return source;
    }

    /// <summary>Stops every task of this source and waits for them: each ends at its next await.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await Task.WhenAll(_tasks);
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
    }
}
