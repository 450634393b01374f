using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Ferry.Local;

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of one local server, that fails the way a firewall between continents does:
/// added latency each way, a bandwidth cap, resets (now, or at random), a blackhole that swallows everything and
/// never closes, and refusal of new connections for a while. Every fault can be changed while connections run.
/// <para>
/// It is a test and benchmark tool, so it is bounded: it only connects to 127.0.0.1, holds at most
/// <see cref="MaxConnections"/> connections, and stops by itself after its lifetime, whoever forgets to dispose it.
/// </para>
/// </summary>
public sealed partial class FaultProxy : IAsyncDisposable
{
    public const int MaxConnections = 200;
    private static readonly TimeSpan DefaultLifetime = TimeSpan.FromMinutes(15);

    private readonly Socket _listener;
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop;
    private readonly ConcurrentDictionary<long, Link> _links = new();
    private readonly Task _accepting;
    private readonly Task _chaos;
    private readonly Pacer _up = new();
    private readonly Pacer _down = new();
    private long _nextId;
    private long _refuseUntil;
    private volatile bool _blackhole;
    private int _disposed;

    private long _bytesUp, _bytesDown, _bytesSwallowed, _accepted, _refused, _resets, _roundTrips;

    private FaultProxy(IPEndPoint target, TimeSpan lifetime)
    {
        _target = target;
        _stop = new CancellationTokenSource(lifetime);
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(64);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        // The lifetime ends the proxy even if nobody disposes it: a forgotten proxy must not hold ports or servers.
        _stop.Token.Register(() => _listener.Close());
        _accepting = AcceptAsync(_stop.Token);
        _chaos = ChaosAsync(_stop.Token);
    }

    /// <summary>Starts a proxy in front of <paramref name="targetHost"/>:<paramref name="targetPort"/>, which must be 127.0.0.1.</summary>
    public static FaultProxy Start(string targetHost, int targetPort, TimeSpan? lifetime = null)
    {
        var address = targetHost == "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(targetHost, out var a) ? a
            : throw new ArgumentException($"FaultProxy only forwards to 127.0.0.1, not '{targetHost}'.", nameof(targetHost));
        if (!address.Equals(IPAddress.Loopback))
            throw new ArgumentException($"FaultProxy only forwards to 127.0.0.1, not {address}.", nameof(targetHost));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(targetPort);
        return new FaultProxy(new IPEndPoint(address, targetPort), lifetime ?? DefaultLifetime);
    }

    public static FaultProxy Start(LocalServer server, TimeSpan? lifetime = null) => Start(server.Host, server.Port, lifetime);

    public string Host => "127.0.0.1";

    public int Port { get; }

    /// <summary>Added to every chunk of bytes in each direction; order is kept. Changes apply to bytes not yet sent.</summary>
    public TimeSpan Latency { get; set; }

    /// <summary>Bytes per second each way, shared by all connections; 0 means no cap.</summary>
    public long BandwidthBytesPerSecond
    {
        get => _up.Rate;
        set => _up.Rate = _down.Rate = Math.Max(0, value);
    }

    /// <summary>
    /// When set, the blackhole, resets and refusal act only on connections whose client address (as the proxy sees it)
    /// this accepts; the others pass untouched. Two processes on one host reaching the same address, one cut off and
    /// one not, stand for two hosts on either side of a partition. Null: every connection.
    /// </summary>
    public Func<IPEndPoint, bool>? Only { get; set; }

    private bool Affects(Socket client)
    {
        if (Only is not { } only) return true;
        try
        {
            return client.RemoteEndPoint is IPEndPoint ep && only(ep);
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException)
        {
            return false; // closed already: nothing left to fault
        }
    }

    /// <summary>The chance, per connection and per second, that it is reset. 0 turns random resets off.</summary>
    public double ResetsPerSecond { get; set; }

    /// <summary>
    /// While on, new connections are accepted and swallowed, and every current connection goes silent for good: a
    /// connection that crossed a blackhole stays dead after it lifts (as one whose NAT state a firewall lost), so
    /// nothing ever sees a stream with bytes missing.
    /// </summary>
    public bool Blackhole
    {
        get => _blackhole;
        set
        {
            _blackhole = value;
            if (value)
                foreach (var link in _links.Values.Where(l => Affects(l.Client))) link.Blackholed = true;
        }
    }

    public bool Stopped => _stop.IsCancellationRequested;

    public long BytesUp => Interlocked.Read(ref _bytesUp);

    public long BytesDown => Interlocked.Read(ref _bytesDown);

    public long BytesSwallowed => Interlocked.Read(ref _bytesSwallowed);

    public long ConnectionsAccepted => Interlocked.Read(ref _accepted);

    public long ConnectionsRefused => Interlocked.Read(ref _refused);

    public long Resets => Interlocked.Read(ref _resets);

    /// <summary>
    /// Round trips seen, over all connections: the server answering after the client sent something since its last
    /// answer. Pipelined statements count once; a COPY counts its start and its end. On a long link these are the waits.
    /// </summary>
    public long RoundTrips => Interlocked.Read(ref _roundTrips);

    public int ActiveConnections => _links.Count;

    /// <summary>New connections are reset as soon as they are accepted until <paramref name="period"/> has passed.</summary>
    public void RefuseFor(TimeSpan period) =>
        Interlocked.Exchange(ref _refuseUntil, Stopwatch.GetTimestamp() + (long)(period.TotalSeconds * Stopwatch.Frequency));

    public bool Refusing => Stopwatch.GetTimestamp() < Interlocked.Read(ref _refuseUntil);

    /// <summary>Resets every current connection (TCP RST to both ends); returns how many.</summary>
    public int ResetAll()
    {
        var n = 0;
        foreach (var link in _links.Values)
            if (Affects(link.Client) && link.Abort()) n++;
        Interlocked.Add(ref _resets, n);
        return n;
    }

    /// <summary>Heals everything: no latency, no cap, no random resets, no blackhole for new connections, no refusal.</summary>
    public void Heal()
    {
        Latency = TimeSpan.Zero;
        BandwidthBytesPerSecond = 0;
        ResetsPerSecond = 0;
        _blackhole = false;
        Interlocked.Exchange(ref _refuseUntil, 0);
    }

    private async Task AcceptAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(ct);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            Interlocked.Increment(ref _accepted);
            if ((Refusing && Affects(client)) || _links.Count >= MaxConnections)
            {
                Interlocked.Increment(ref _refused);
                Link.Reset(client);
                continue;
            }
            var link = new Link(this, Interlocked.Increment(ref _nextId), client) { Blackholed = _blackhole && Affects(client) };
            _links[link.Id] = link;
            _ = RunLinkAsync(link, ct);
        }
    }

    private async Task RunLinkAsync(Link link, CancellationToken ct)
    {
        try
        {
            await link.RunAsync(_target, ct);
        }
        finally
        {
            _links.TryRemove(link.Id, out _);
            link.Abort();
        }
    }

    /// <summary>Random resets: every 100 ms each connection is reset with a tenth of the per-second chance.</summary>
    private async Task ChaosAsync(CancellationToken ct)
    {
        using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        try
        {
            while (await tick.WaitForNextTickAsync(ct))
            {
                var p = ResetsPerSecond / 10;
                if (p <= 0) continue;
                foreach (var link in _links.Values)
                    if (Random.Shared.NextDouble() < p && Affects(link.Client) && link.Abort())
                        Interlocked.Increment(ref _resets);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stop.CancelAsync();
        foreach (var link in _links.Values) link.Abort();
        await _accepting;
        await _chaos;
        _listener.Dispose();
        _stop.Dispose();
    }

    /// <summary>
    /// Paces bytes in one direction across all connections: each send reserves its share of the link's time, and
    /// waits until that share has passed. Simple and fair enough for a test link.
    /// </summary>
    private sealed class Pacer
    {
        private readonly Lock _lock = new();
        private long _nextFree;

        public long Rate { get; set; }

        public TimeSpan Reserve(int bytes)
        {
            var rate = Rate;
            if (rate <= 0) return TimeSpan.Zero;
            lock (_lock)
            {
                var now = Stopwatch.GetTimestamp();
                var start = Math.Max(now, _nextFree);
                _nextFree = start + (long)((double)bytes / rate * Stopwatch.Frequency);
                return Stopwatch.GetElapsedTime(now, _nextFree);
            }
        }
    }
}
