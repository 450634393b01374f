using Microsoft.Extensions.Logging;

namespace Ferry.Relay;

/// <summary>
/// What the relay runs per source database, beside the pairs that read from it: the <see cref="SourceListener"/>, and
/// any other task that belongs to the database rather than to a pair (start it in <see cref="Start"/>, with
/// <see cref="_stop"/>'s token: it stops with the listener). It lives while some running pair reads from the database,
/// and is started again when the database's connection settings change (<see cref="Definition"/>).
/// </summary>
public sealed class RelaySource
{
    private readonly CancellationTokenSource _stop;
    private readonly List<Task> _tasks = [];

    private RelaySource(Database database, SourceListener listener, CancellationTokenSource stop)
    {
        Database = database;
        Listener = listener;
        _stop = stop;
        Definition = RelayPlan.Definition(database);
    }

    public Database Database { get; }

    /// <summary>The connection this source was started with: a different one starts it again.</summary>
    public string Definition { get; }

    public SourceListener Listener { get; }

    public static RelaySource Start(Database database, ILoggerFactory loggers, CancellationToken relayStopping)
    {
        var stop = CancellationTokenSource.CreateLinkedTokenSource(relayStopping);
        var source = new RelaySource(database, new SourceListener(database, [], loggers.CreateLogger("ferry.listen")), stop);
        source._tasks.Add(Task.Run(() => source.Listener.RunAsync(stop.Token), CancellationToken.None));
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
