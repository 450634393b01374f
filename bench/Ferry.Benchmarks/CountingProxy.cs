using System.Net;
using System.Net.Sockets;

namespace Ferry.Benchmarks;

/// <summary>
/// A loopback TCP relay in front of one PostgreSQL server that counts round trips: each time the server answers
/// after the client has sent something since the last answer. Pipelined statements count once; a COPY stream counts
/// only its start and its end. On a long link these are the waits, whatever the bytes.
/// </summary>
public sealed class CountingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _serverPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _tasks = [];
    private long _roundTrips;
    private Task? _accepting;

    public CountingProxy(int serverPort) => _serverPort = serverPort;

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public long RoundTrips => Interlocked.Read(ref _roundTrips);

    public void Start()
    {
        _listener.Start();
        _accepting = AcceptAsync(_stop.Token);
    }

    public void Reset() => Interlocked.Exchange(ref _roundTrips, 0);

    private async Task AcceptAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var client = await _listener.AcceptTcpClientAsync(ct);
                lock (_tasks) _tasks.Add(ConnectionAsync(client, ct));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }
    }

    private async Task ConnectionAsync(TcpClient client, CancellationToken ct)
    {
        using var _ = client;
        using var server = new TcpClient { NoDelay = true };
        client.NoDelay = true;
        await server.ConnectAsync(IPAddress.Loopback, _serverPort, ct);
        // 1: the client has spoken since the server last answered.
        var clientSpoke = 0;
        await using var fromClient = client.GetStream();
        await using var toServer = server.GetStream();
        var up = PumpAsync(fromClient, toServer, () => Volatile.Write(ref clientSpoke, 1), ct);
        var down = PumpAsync(toServer, fromClient, () =>
        {
            if (Interlocked.Exchange(ref clientSpoke, 0) == 1) Interlocked.Increment(ref _roundTrips);
        }, ct);
        await Task.WhenAny(up, down);
        client.Close();
        server.Close();
    }

    private static async Task PumpAsync(Stream from, Stream to, Action onData, CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            int n;
            while ((n = await from.ReadAsync(buffer, ct)) > 0)
            {
                onData();
                await to.WriteAsync(buffer.AsMemory(0, n), ct);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The other side closed: the connection is over.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        if (_accepting is not null) await _accepting;
        Task[] tasks;
        lock (_tasks) tasks = [.. _tasks];
        await Task.WhenAll(tasks.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
        _stop.Dispose();
    }
}
