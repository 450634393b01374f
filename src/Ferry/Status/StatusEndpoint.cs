using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Ferry.Status;

/// <summary>
/// The relay's HTTP endpoint, on 127.0.0.1 unless FERRY_HTTP_BIND says otherwise: <c>/status</c> (JSON), <c>/metrics</c> (Prometheus), <c>/</c> (a page
/// for people), <c>POST /kick?sync=S</c> and <c>POST /reload</c>. Loopback only: it has no authentication; a local user may kick, and a
/// web page in the user's browser may not (see <see cref="CrossSite"/>).
/// </summary>
public sealed partial class StatusEndpoint(Relay.Relay relay, ILogger logger) : IAsyncDisposable
{
    private HttpListener? _listener;
    private Task? _loop;

    public int Port { get; private set; }

    /// <summary>Where it listens: the address the relay's own commands reach it on, and the port.</summary>
    public string Host { get; private set; } = "127.0.0.1";

    public void Start(IPAddress bind, int port, CancellationToken ct)
    {
        // Any address: HttpListener answers only requests whose Host header matches the prefix, so listen on the
        // wildcard (every Host) rather than on 0.0.0.0 (which no client names). Reached locally on loopback.
        var any = bind.Equals(IPAddress.Any) || bind.Equals(IPAddress.IPv6Any);
        var prefixHost = any ? "+" : bind.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{bind}]" : bind.ToString();
        Host = any ? "127.0.0.1" : prefixHost;
        for (var attempt = 0; ; attempt++)
        {
            var p = port != 0 ? port : FreePort(any ? IPAddress.Loopback : bind);
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://{prefixHost}:{p}/");
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
            catch (HttpListenerException e) when (port != 0)
            {
                listener.Close();
                throw new FerryException($"The relay cannot listen on {prefixHost}:{port} ({e.Message.TrimEnd('.')}): another " +
                                         "program uses that port, or the address is not this host's. Set FERRY_HTTP_PORT to a free " +
                                         "port (or unset it to let ferry pick one), and FERRY_HTTP_BIND to an address of this host.");
            }
        }
        _loop = Task.Run(() => ServeAsync(ct), ct);
    }

    private static int FreePort(IPAddress bind)
    {
        using var l = new System.Net.Sockets.TcpListener(bind, 0);
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
                await WriteAsync(response, "application/json", JsonSerializer.Serialize(await SnapshotWithCopiesAsync(ct), JsonOptions), ct);
                break;
            case "/metrics":
                response.ContentType = "text/plain; version=0.0.4";
                await Metrics.DefaultRegistry.CollectAndExportAsTextAsync(response.OutputStream, ct);
                break;
            case "/reload" when request.HttpMethod == "POST":
                if (CrossSite(request, "ferry reload") is { } refused)
                {
                    response.StatusCode = refused.Status;
                    await WriteAsync(response, "text/plain", refused.Why + "\n", ct);
                    break;
                }
                await ReloadAsync(response, ct);
                break;
            case "/kick" when request.HttpMethod == "POST":
                if (CrossSite(request, "ferry kick") is { } refusal)
                {
                    response.StatusCode = refusal.Status;
                    await WriteAsync(response, "text/plain", refusal.Why + "\n", ct);
                    break;
                }
                var sync = request.QueryString["sync"];
                var rung = relay.Kick(string.IsNullOrEmpty(sync) ? null : sync);
                response.StatusCode = rung > 0 ? 200 : 404;
                await WriteAsync(response, "text/plain", rung > 0 ? $"kicked {rung} pairs\n" : $"no running sync '{sync}'\n", ct);
                break;
            case "/":
                await WriteAsync(response, "text/html; charset=utf-8", StatusPage.Render(await SnapshotWithCopiesAsync(ct)), ct);
                break;
            default:
                response.StatusCode = 404;
                await WriteAsync(response, "text/plain", "not found: try /status, /metrics or /\n", ct);
                break;
        }
    }

    /// <summary>
    /// Any web page the user opens may POST to 127.0.0.1 (a form, or fetch without CORS): a route that changes
    /// something answers only requests a page could not have sent. A browser names the page's origin in
    /// <c>Origin</c> and says <c>Sec-Fetch-Site</c>; `ferry kick` sends neither. A page can also send a body without
    /// asking first only as a form or text/plain: kick takes no body at all. (A page on a host name that resolves to
    /// 127.0.0.1 is not served at all: HttpListener answers only Host 127.0.0.1:PORT, the prefix it listens on.)
    /// </summary>
    private (int Status, string Why)? CrossSite(HttpListenerRequest request, string verb)
    {
        var origin = request.Headers["Origin"];
        if (origin is not null && !SameOrigin(origin))
            return (403, $"refused: a request from {origin} may not change the relay; use {verb}");
        var site = request.Headers["Sec-Fetch-Site"];
        if (site is not null && site is not ("same-origin" or "none"))
            return (403, $"refused: a {site} request may not change the relay; use {verb}");
        if (request.ContentType is not null)
            return (415, $"refused: this route takes no body; use {verb}");
        return null;
    }

    /// <summary>`ferry reload`: the relay reads its configuration again and says what it started, stopped or left running.</summary>
    private async Task ReloadAsync(HttpListenerResponse response, CancellationToken ct)
    {
        string answer;
        try
        {
            answer = (await relay.ReloadAsync(ct)).ToString();
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // The store busy or unreadable: the pairs run as before. Said to the caller, who may try again.
            response.StatusCode = e is FerryException ? 409 : 500;
            answer = $"The relay could not reload its configuration: {e.Message.TrimEnd('.')}. Its pairs run as before; " +
                     $"see {Defaults.LogPath}, and run ferry reload again.";
            LogFailed(answer);
        }
        await WriteAsync(response, "text/plain", answer + "\n", ct);
    }

    private bool SameOrigin(string origin) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttp && uri.Port == Port
        && (uri.Host == "127.0.0.1" || uri.Host == Host || uri.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase));

    public RelaySnapshot Snapshot() => new(
        Environment.ProcessId,
        relay.Status.Databases.OrderBy(d => d.Key).Select(d => new DatabaseSnapshot(d.Key, d.Value.Reachable, d.Value.LastError, d.Value.Since)
        {
            SlotRetainedBytes = relay.Status.Slots.GetValueOrDefault(d.Key)?.RetainedBytes,
        }).ToList(),
        relay.Workers.Select(w => w.Pair).Select(p =>
        {
            var lag = relay.Status.LagOf(p);
            var history = relay.Status.LagHistoryOf(p);
            return relay.Status.Pairs.TryGetValue(p, out var l)
                ? PairSnapshot.Of(p, l.State, l.Rows, lag, l.LastGood, l.LastError, l.ErrorSince) with { LagHistory = history }
                : PairSnapshot.Of(p, "starting", 0, lag, null, null, null) with { LagHistory = history };
        }).ToList(),
        relay.Status.Holds.OrderBy(h => h.Key.ToString(), StringComparer.Ordinal).SelectMany(h => h.Value.Select(t =>
            new HeldTableSnapshot(h.Key.Sync, h.Key.Source, h.Key.Target, t.Table.ToString(), t.Cause, t.Fix, t.Since))).ToList())
    {
        LagSampleSeconds = Defaults.LagSampleInterval.TotalSeconds,
        RecentConflicts = relay.Status.RecentConflicts,
        RecentErrors = relay.Status.RecentErrors,
    };

    /// <summary>The snapshot with the copies in progress, which other processes (ferry copy) record in the store.</summary>
    public async Task<RelaySnapshot> SnapshotWithCopiesAsync(CancellationToken ct) =>
        Snapshot() with
        {
            Copies = await CopySnapshot.ListAsync(relay.Store, CopySnapshot.ProcessAlive, ct),
            Relays = relay.Store.Address.IsPostgres ? await relay.Store.ListRelaysAsync(ct) : null,
            RelayId = relay.Identity?.Id,
        };

    private static async Task WriteAsync(HttpListenerResponse response, string type, string body, CancellationToken ct)
    {
        response.ContentType = type;
        var bytes = Encoding.UTF8.GetBytes(body);
        response.ContentLength64 = bytes.Length;
        await response.OutputStream.WriteAsync(bytes, ct);
    }

    /// <summary>The document's JSON form, shared with `ferry status --json`.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

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

public sealed record DatabaseSnapshot(string Name, bool Reachable, string? LastError, DateTimeOffset Since)
{
    /// <summary>capture=wal: the WAL its replication slot holds on the server, as the relay last read it.</summary>
    public long? SlotRetainedBytes { get; init; }
}

/// <summary>
/// A pair as the document shows it. Lag: changes committed on the source and not yet applied on the target, and the age
/// of the oldest (null: never measured); <see cref="LagStale"/> while the figure is the last known one, since
/// <see cref="LagStaleSince"/>.
/// </summary>
public sealed record PairSnapshot(string Sync, string Source, string Target, string State, long RowsMoved, long? LagRows,
    double? LagSeconds, bool LagStale, DateTimeOffset? LagMeasuredAt, DateTimeOffset? LagStaleSince, DateTimeOffset? LastGood,
    string? LastError, DateTimeOffset? ErrorSince)
{
    /// <summary>The relay's samples of the lag over the last hour, oldest first (absent when no relay keeps them).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<Relay.LagSample>? LagHistory { get; init; }

    public static PairSnapshot Of(Pair p, string state, long rowsMoved, Progress.PairLag lag, DateTimeOffset? lastGood,
        string? lastError, DateTimeOffset? errorSince) =>
        new(p.Sync, p.Source, p.Target, state, rowsMoved, lag.Rows, lag.Seconds, lag.Stale, lag.MeasuredAt,
            lag.StaleSince, lastGood, lastError, errorSince);
}

/// <summary>A table held on a pair: its changes wait while the pair's other tables flow.</summary>
public sealed record HeldTableSnapshot(string Sync, string Source, string Target, string Table, string Cause, string Fix,
    DateTimeOffset Since);

/// <param name="Pid">the relay's; null when `ferry status` built the document itself, no relay running</param>
public sealed record RelaySnapshot(int? Pid, IReadOnlyList<DatabaseSnapshot> Databases, IReadOnlyList<PairSnapshot> Pairs,
    IReadOnlyList<HeldTableSnapshot> HeldTables)
{
    /// <summary>How often the relay samples each pair's lag (its <see cref="PairSnapshot.LagHistory"/>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? LagSampleSeconds { get; init; }

    /// <summary>The last conflicts the relay's applies recorded, newest first (absent when no relay keeps them).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<Relay.RecentConflict>? RecentConflicts { get; init; }

    /// <summary>The last errors the relay's pairs met, the latest first (absent when no relay keeps them).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<Relay.RecentError>? RecentErrors { get; init; }

    /// <summary>Every relay registered in a shared PostgreSQL store, its heartbeat's age and its leases (absent on SQLite).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<Relay.RelayRegistration>? Relays { get; init; }

    /// <summary>Which of <see cref="Relays"/> served this document (absent when no relay of a shared store did).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? RelayId { get; init; }

    /// <summary>Copies into targets that began and have not finished: running, interrupted, failed or killed.</summary>
    public IReadOnlyList<CopySnapshot> Copies { get; init; } = [];
}
