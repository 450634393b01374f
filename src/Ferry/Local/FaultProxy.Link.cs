using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Ferry.Local;

public sealed partial class FaultProxy
{
    /// <summary>A chunk of bytes as read, with the time it was read: the writer holds it until that time plus the latency.</summary>
    private readonly record struct Segment(byte[] Buffer, int Length, long ReadAt);

    /// <summary>
    /// One proxied connection: two pumps, each a reader that queues what it reads (bounded, so a slow link pushes back
    /// on the sender as TCP would) and a writer that releases it after the latency, paced by the bandwidth cap.
    /// </summary>
    private sealed class Link(FaultProxy proxy, long id, Socket client)
    {
        private const int BufferSize = 16 * 1024;
        private const int QueuedSegments = 256;
        private readonly CancellationTokenSource _cancel = new();
        private Socket? _server;
        private int _closed;
        private int _clientSpoke;
        private volatile bool _blackholed;

        public long Id => id;

        public Socket Client => client;

        /// <summary>Once set it stays set: this connection forwards nothing more, and the proxy never closes it.</summary>
        public bool Blackholed
        {
            get => _blackholed;
            set => _blackholed |= value;
        }

        public async Task RunAsync(IPEndPoint target, CancellationToken ct)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _cancel.Token);
            var token = linked.Token;
            client.NoDelay = true;
            if (!Blackholed)
            {
                var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await server.ConnectAsync(target, token);
                }
                catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
                {
                    // The server is down: the client sees a reset, as it would through a firewall.
                    server.Dispose();
                    Abort();
                    return;
                }
                _server = server;
                if (Volatile.Read(ref _closed) != 0) Reset(server);
            }
            var up = PumpAsync(client, _server, up: true, token);
            var down = _server is null ? Task.CompletedTask : PumpAsync(_server, client, up: false, token);
            await Task.WhenAll(up, down);
        }

        private async Task PumpAsync(Socket from, Socket? to, bool up, CancellationToken ct)
        {
            var queue = Channel.CreateBounded<Segment>(new BoundedChannelOptions(QueuedSegments)
            {
                SingleReader = true, SingleWriter = true,
            });
            var writer = to is null ? Task.CompletedTask : WriteAsync(queue.Reader, to, up, ct);
            try
            {
                while (true)
                {
                    var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                    int n;
                    try
                    {
                        n = await from.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, ct);
                    }
                    catch
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        throw;
                    }
                    if (n == 0 || Blackholed || to is null)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        if (n == 0) break;
                        Interlocked.Add(ref proxy._bytesSwallowed, n);
                        continue;
                    }
                    if (up) Volatile.Write(ref _clientSpoke, 1);
                    else if (Interlocked.Exchange(ref _clientSpoke, 0) == 1) Interlocked.Increment(ref proxy._roundTrips);
                    await queue.Writer.WriteAsync(new Segment(buffer, n, Stopwatch.GetTimestamp()), ct);
                }
                queue.Writer.TryComplete();
                await writer;
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException
                                          or ObjectDisposedException or ChannelClosedException)
            {
                queue.Writer.TryComplete();
                // A reset on one side is passed on to the other, as a real link would; a blackholed one stays silent.
                if (!Blackholed) Abort();
            }
        }

        private async Task WriteAsync(ChannelReader<Segment> queue, Socket to, bool up, CancellationToken ct)
        {
            try
            {
                await ForwardAsync(queue, to, up, ct);
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
            {
                // The receiving end is gone (a server whose backend was killed resets): the sender must hear of it at
                // once, as through a real link, not keep writing into a queue nobody drains until its timeout.
                if (!Blackholed) Abort();
            }
        }

        private async Task ForwardAsync(ChannelReader<Segment> queue, Socket to, bool up, CancellationToken ct)
        {
            var pacer = up ? proxy._up : proxy._down;
            await foreach (var s in queue.ReadAllAsync(ct))
            {
                try
                {
                    var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), s.ReadAt) + proxy.Latency;
                    if (wait > TimeSpan.Zero) await Task.Delay(wait, ct);
                    var offset = 0;
                    while (offset < s.Length)
                    {
                        if (Blackholed)
                        {
                            Interlocked.Add(ref proxy._bytesSwallowed, s.Length - offset);
                            break;
                        }
                        // Under a cap, send in small pieces so the pace is smooth; short waits are owed, not slept.
                        var piece = pacer.Rate > 0 ? Math.Min(s.Length - offset, 4096) : s.Length - offset;
                        var pause = pacer.Reserve(piece);
                        if (pause > TimeSpan.FromMilliseconds(1)) await Task.Delay(pause, ct);
                        var sent = await to.SendAsync(s.Buffer.AsMemory(offset, piece), SocketFlags.None, ct);
                        offset += sent;
                        Interlocked.Add(ref up ? ref proxy._bytesUp : ref proxy._bytesDown, sent);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(s.Buffer);
                }
            }
            // The sender closed its side: pass the half-close on, unless this connection is in the blackhole.
            if (!Blackholed) to.Shutdown(SocketShutdown.Send);
        }

        /// <summary>Resets both ends at once; true the first time only.</summary>
        public bool Abort()
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0) return false;
            try
            {
                _cancel.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
            Reset(client);
            if (_server is { } server) Reset(server);
            return true;
        }

        /// <summary>Closes with a TCP RST rather than a FIN: linger on, zero seconds.</summary>
        public static void Reset(Socket socket)
        {
            try
            {
                socket.LingerState = new LingerOption(true, 0);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
            socket.Dispose();
        }
    }
}
