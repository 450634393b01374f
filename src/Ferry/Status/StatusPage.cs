using System.Globalization;
using System.Net;
using System.Text;
using Ferry.Relay;

namespace Ferry.Status;

/// <summary>
/// The endpoint's page for people: the same facts as /status, server-rendered and readable without JavaScript (the
/// relay may have no internet, so nothing is loaded from elsewhere), refreshed every 5 seconds. Per pair its lag over
/// the last hour as an inline SVG plot; then held tables, recent conflicts and recent errors.
/// </summary>
public static class StatusPage
{
    private const int PlotWidth = 240, PlotHeight = 36;

    public static string Render(RelaySnapshot s) => Render(s, DateTimeOffset.UtcNow);

    public static string Render(RelaySnapshot s, DateTimeOffset now)
    {
        var html = new StringBuilder();
        html.Append("<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">")
            .Append("<link rel=\"icon\" href=\"data:,\"><title>ferry relay</title><style>body{font-family:sans-serif}td,th{padding:2px 10px;text-align:left;vertical-align:top}")
            .Append(".down{color:#b00}.muted{color:#777}svg.lag{background:#f6f6f6}svg.lag .rows{stroke:#1f6fb2}")
            .Append("svg.lag .seconds{stroke:#d2691e}svg.lag polyline{fill:none;stroke-width:1.5}</style></head><body>")
            .Append("<h1>ferry relay</h1><p>pid ").Append(s.Pid).Append(" &middot; <a href=\"/status\">status JSON</a> &middot; ")
            .Append("<a href=\"/metrics\">metrics</a></p><h2>Databases</h2><table><tr><th>database</th><th>state</th><th>since</th><th>last error</th></tr>");
        foreach (var d in s.Databases)
            html.Append("<tr class=\"database\"><td>").Append(E(d.Name)).Append("</td><td class=\"").Append(d.Reachable ? "up\">up" : "down\">down")
                .Append("</td><td>").Append(T(d.Since)).Append("</td><td>").Append(E(d.LastError)).Append("</td></tr>");
        html.Append("</table><h2>Pairs</h2><table><tr><th>sync</th><th>source</th><th>target</th><th>state</th><th>rows moved</th>")
            .Append("<th>lag rows</th><th>lag s</th><th>lag, last hour</th><th>last good</th><th>last error</th></tr>");
        foreach (var p in s.Pairs)
            html.Append("<tr class=\"pair\"><td>").Append(E(p.Sync)).Append("</td><td>").Append(E(p.Source)).Append("</td><td>").Append(E(p.Target))
                .Append("</td><td class=\"state\">").Append(E(p.State)).Append("</td><td>").Append(p.RowsMoved)
                .Append("</td><td class=\"lag-rows\">").Append(p.LagRows?.ToString(CultureInfo.InvariantCulture) ?? "?")
                .Append(p.LagStale ? " <span class=\"down\">(stale" + (p.LagStaleSince is { } since ? " since " + T(since) : "") + ")</span>" : "")
                .Append("</td><td class=\"lag-seconds\">").Append(p.LagSeconds?.ToString("F1", CultureInfo.InvariantCulture) ?? "?")
                .Append("</td><td>").Append(Plot(p, now)).Append("</td><td>").Append(T(p.LastGood))
                .Append("</td><td>").Append(p.LastError is null ? "" : $"(since {T(p.ErrorSince)}) ").Append(E(p.LastError)).Append("</td></tr>");
        html.Append("</table>");
        // Copies in progress (onetimecopy, ferry copy) belong here, between the pairs and what holds them back.
        if (s.HeldTables.Count > 0)
        {
            html.Append("<h2>Held tables</h2><table><tr><th>pair</th><th>table</th><th>cause</th><th>since</th><th>fix</th></tr>");
            foreach (var h in s.HeldTables)
                html.Append("<tr class=\"held\"><td>").Append(E($"{h.Sync}: {h.Source} -> {h.Target}")).Append("</td><td>").Append(E(h.Table))
                    .Append("</td><td class=\"down\">").Append(E(h.Cause)).Append("</td><td>").Append(T(h.Since)).Append("</td><td>")
                    .Append(E(h.Fix)).Append("</td></tr>");
            html.Append("</table>");
        }
        CopiesTable.Render(html, s.Copies);
        Conflicts(html, s.RecentConflicts ?? []);
        Errors(html, s);
        return html.Append("</body></html>").ToString();
    }

    private static void Conflicts(StringBuilder html, IReadOnlyList<RecentConflict> conflicts)
    {
        html.Append("<h2>Recent conflicts</h2>");
        if (conflicts.Count == 0)
        {
            html.Append("<p class=\"muted\">None since the relay started.</p>");
            return;
        }
        html.Append("<p class=\"muted\">The last ").Append(RelayStatus.RecentKept)
            .Append(" at most; every one is in its database's ferry.conflicts (ferry conflicts).</p>")
            .Append("<table><tr><th>decided</th><th>sync</th><th>on</th><th>from</th><th>table</th><th>key</th><th>winner</th><th>rule</th></tr>");
        foreach (var c in conflicts)
            html.Append("<tr class=\"conflict\"><td>").Append(T(c.DecidedAt)).Append("</td><td>").Append(E(c.Sync)).Append("</td><td>")
                .Append(E(c.Target)).Append("</td><td>").Append(E(c.Source)).Append("</td><td>").Append(E(c.Table)).Append("</td><td>")
                .Append(E(c.Key)).Append("</td><td class=\"winner\">").Append(E(c.Winner)).Append("</td><td>").Append(E(c.Rule)).Append("</td></tr>");
        html.Append("</table>");
    }

    private static void Errors(StringBuilder html, RelaySnapshot s)
    {
        var errors = s.RecentErrors ?? [];
        html.Append("<h2>Recent errors</h2>");
        if (errors.Count == 0)
        {
            html.Append("<p class=\"muted\">None since the relay started.</p>");
            return;
        }
        html.Append("<table><tr><th>pair</th><th>now</th><th>since</th><th>last seen</th><th>times</th><th>error</th></tr>");
        foreach (var e in errors)
        {
            // Still standing while the pair's last error is this one; otherwise the pair has moved on.
            var standing = s.Pairs.Any(p => p.Sync == e.Sync && p.Source == e.Source && p.Target == e.Target && p.LastError == e.Message);
            html.Append("<tr class=\"error\"><td>").Append(E($"{e.Sync}: {e.Source} -> {e.Target}")).Append("</td><td")
                .Append(standing ? " class=\"down\">" : ">").Append(standing ? E(e.State) : "cleared").Append("</td><td>")
                .Append(T(e.Since)).Append("</td><td>").Append(T(e.LastSeen)).Append("</td><td>").Append(e.Times)
                .Append("</td><td>").Append(E(e.Message)).Append("</td></tr>");
        }
        html.Append("</table>");
    }

    /// <summary>
    /// The pair's lag over the last hour, time running left to right up to now: rows (blue) and the oldest change's age
    /// in seconds (orange), each scaled to its own peak, which the tooltip and the caption give.
    /// </summary>
    private static string Plot(PairSnapshot p, DateTimeOffset now)
    {
        var samples = p.LagHistory ?? [];
        if (samples.Count == 0) return "<span class=\"muted\">no samples yet</span>";
        var maxRows = Math.Max(1, samples.Max(x => x.Rows ?? 0));
        var maxSeconds = Math.Max(1, samples.Max(x => x.Seconds ?? 0));
        var from = now - RelayStatus.HistorySpan;
        string X(DateTimeOffset at) => F(Math.Clamp((at - from) / RelayStatus.HistorySpan, 0, 1) * PlotWidth);
        string Y(double v, double max) => F(PlotHeight - 2 - v / max * (PlotHeight - 4));
        string Points(Func<LagSample, double> value, double max) =>
            string.Join(" ", samples.Select(x => X(x.At) + "," + Y(value(x), max)));
        var caption = $"peak {maxRows.ToString(CultureInfo.InvariantCulture)} rows, {F(samples.Max(x => x.Seconds ?? 0))} s; {samples.Count} samples";
        var last = samples[^1];
        return new StringBuilder()
            .Append("<svg class=\"lag\" xmlns=\"http://www.w3.org/2000/svg\" width=\"").Append(PlotWidth).Append("\" height=\"").Append(PlotHeight)
            .Append("\" viewBox=\"0 0 ").Append(PlotWidth).Append(' ').Append(PlotHeight).Append("\" role=\"img\"><title>")
            .Append(E($"{p.Sync}: {p.Source} -> {p.Target}, lag over the last hour: {caption}")).Append("</title>")
            .Append("<polyline class=\"rows\" points=\"").Append(Points(x => x.Rows ?? 0, maxRows)).Append("\"/>")
            .Append("<polyline class=\"seconds\" points=\"").Append(Points(x => x.Seconds ?? 0, maxSeconds)).Append("\"/>")
            .Append("<circle class=\"rows\" r=\"2\" cx=\"").Append(X(last.At)).Append("\" cy=\"").Append(Y(last.Rows ?? 0, maxRows))
            .Append("\" fill=\"#1f6fb2\"/></svg><br><span class=\"muted\">").Append(E(caption)).Append("</span>").ToString();
    }

    private static string F(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);

    private static string T(DateTimeOffset? t) => t?.ToString("u", CultureInfo.InvariantCulture) ?? "";

    private static string E(string? text) => WebUtility.HtmlEncode(text ?? "");
}
