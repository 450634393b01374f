using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Ferry.Status;

/// <summary>
/// The relay's HTTP endpoint on 127.0.0.1: <c>/status</c> (JSON), <c>/metrics</c> (Prometheus), <c>/</c> (a page
/// for people) and <c>POST /kick?sync=S</c>. Loopback only: it has no authentication, and it needs none there.
/// </summary>
public sealed partial class StatusEndpoint(Relay.Relay relay, ILogger logger) : IAsyncDisposable
{
    private HttpListener? _listener;
    private Task? _loop;

    public int Port { get; private set; }

    public void Start(int port, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            var p = port != 0 ? port : FreePort();
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{p}/");
            try
            {
                listener.Start();
                _listener = listener;
                Port = p;
                break;
            }
            catch (HttpListenerException) when (port == 0 && attempt < 5)
            {
                listener.Close();
            }
        }
        _loop = Task.Run(() => ServeAsync(ct), ct);
    }

    private static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private async Task ServeAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested && _listener is { IsListening: true })
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().WaitAsync(ct);
            }
            catch (Exception e) when (e is OperationCanceledException or HttpListenerException or ObjectDisposedException)
            {
                return;
            }
            try
            {
                await HandleAsync(context, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogFailed(e.Message);
            }
            finally
            {
                context.Response.Close();
            }
        }
    }

    private async Task HandleAsync(HttpListenerContext context, CancellationToken ct)
    {
        var request = context.Request;
        var response = context.Response;
        switch (request.Url?.AbsolutePath)
        {
            case "/status":
                await WriteAsync(response, "application/json", JsonSerializer.Serialize(Snapshot(), JsonOptions), ct);
                break;
            case "/metrics":
                response.ContentType = "text/plain; version=0.0.4";
                await Metrics.DefaultRegistry.CollectAndExportAsTextAsync(response.OutputStream, ct);
                break;
            case "/kick" when request.HttpMethod == "POST":
                var sync = request.QueryString["sync"];
                var rung = relay.Kick(string.IsNullOrEmpty(sync) ? null : sync);
                response.StatusCode = rung > 0 ? 200 : 404;
                await WriteAsync(response, "text/plain", rung > 0 ? $"kicked {rung} pairs\n" : $"no running sync '{sync}'\n", ct);
                break;
            case "/":
                await WriteAsync(response, "text/html; charset=utf-8", StatusPage.Render(Snapshot()), ct);
                break;
            default:
                response.StatusCode = 404;
                await WriteAsync(response, "text/plain", "not found: try /status, /metrics or /\n", ct);
                break;
        }
    }

    public RelaySnapshot Snapshot() => new(
        Environment.ProcessId,
        relay.Status.Databases.OrderBy(d => d.Key).Select(d => new DatabaseSnapshot(d.Key, d.Value.Reachable, d.Value.LastError, d.Value.Since)).ToList(),
        relay.Workers.Select(w => w.Pair).Select(p => relay.Status.Pairs.TryGetValue(p, out var l)
            ? new PairSnapshot(p.Sync, p.Source, p.Target, l.State, l.Rows, l.LagRows, l.LagSeconds, l.LastGood, l.LastError, l.ErrorSince)
            : new PairSnapshot(p.Sync, p.Source, p.Target, "starting", 0, 0, 0, null, null, null)).ToList(),
        relay.Status.Holds.OrderBy(h => h.Key.ToString(), StringComparer.Ordinal).SelectMany(h => h.Value.Select(t =>
            new HeldTableSnapshot(h.Key.Sync, h.Key.Source, h.Key.Target, t.Table.ToString(), t.Cause, t.Fix, t.Since))).ToList());

    private static async Task WriteAsync(HttpListenerResponse response, string type, string body, CancellationToken ct)
    {
        response.ContentType = type;
        var bytes = Encoding.UTF8.GetBytes(body);
        response.ContentLength64 = bytes.Length;
        await response.OutputStream.WriteAsync(bytes, ct);
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public async ValueTask DisposeAsync()
    {
        _listener?.Close();
        if (_loop is not null)
        {
            try
            {
                await _loop;
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "HTTP request failed: {Message}")]
    private partial void LogFailed(string message);
}

public sealed record DatabaseSnapshot(string Name, bool Reachable, string? LastError, DateTimeOffset Since);

public sealed record PairSnapshot(string Sync, string Source, string Target, string State, long RowsMoved, long LagRows,
    double LagSeconds, DateTimeOffset? LastGood, string? LastError, DateTimeOffset? ErrorSince);

/// <summary>A table held on a pair: its changes wait while the pair's other tables flow.</summary>
public sealed record HeldTableSnapshot(string Sync, string Source, string Target, string Table, string Cause, string Fix,
    DateTimeOffset Since);

public sealed record RelaySnapshot(int Pid, IReadOnlyList<DatabaseSnapshot> Databases, IReadOnlyList<PairSnapshot> Pairs,
    IReadOnlyList<HeldTableSnapshot> HeldTables);
