using System.Data;
using Ferry.Relay;
using Npgsql;

namespace Ferry.Postgres;

/// <summary>
/// One connection to each of several databases, for a command whose steps talk to all of them at once (compare): a
/// step runs through the command's <see cref="LinkRetry"/>, connections the link broke are opened again before the
/// next try, and a failure names the database whose link broke.
/// </summary>
public sealed class ConnectionSet(IReadOnlyList<Database> databases, string applicationName, LinkRetry retry) : IAsyncDisposable
{
    private readonly NpgsqlConnection?[] _open = new NpgsqlConnection?[databases.Count];

    public Task<T> RunAsync<T>(Func<IReadOnlyList<(string Name, NpgsqlConnection Connection)>, CancellationToken, Task<T>> step,
        CancellationToken ct) =>
        retry.RunAsync(databases[0], async token =>
        {
            var live = new List<(string, NpgsqlConnection)>();
            for (var i = 0; i < databases.Count; i++) live.Add((databases[i].Name, await OpenAsync(i, token)));
            try
            {
                return await step(live, token);
            }
            catch (Exception e) when (Broken(e) is { } link)
            {
                throw link;
            }
        }, ct);

    private async Task<NpgsqlConnection> OpenAsync(int i, CancellationToken ct)
    {
        if (_open[i] is { FullState: ConnectionState.Open } c) return c;
        if (_open[i] is { } old) await old.DisposeAsync();
        _open[i] = null;
        try
        {
            return _open[i] = await Connect.OpenAsync(databases[i], ct, applicationName);
        }
        catch (FerryException e) when (PgErrors.IsTransient(e))
        {
            throw new LinkException(databases[i], e.Message, e);
        }
    }

    /// <summary>A link failure as naming the first database whose connection it broke; null for any other failure.</summary>
    private LinkException? Broken(Exception e)
    {
        if (e is LinkException link) return link;
        if (!PgErrors.IsTransient(e)) return null;
        for (var i = 0; i < databases.Count; i++)
            if (_open[i] is not { FullState: ConnectionState.Open }) return new LinkException(databases[i], e.Message, e);
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var c in _open)
            if (c is not null) await c.DisposeAsync();
    }
}
