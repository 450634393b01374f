using System.Net;
using System.Text;

namespace Ferry.Status;

/// <summary>The endpoint's page for people: the same facts as /status, as two tables, refreshed every 5 seconds.</summary>
public static class StatusPage
{
    public static string Render(RelaySnapshot s)
    {
        var html = new StringBuilder();
        html.Append("<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">")
            .Append("<title>ferry relay</title><style>body{font-family:sans-serif}td,th{padding:2px 10px;text-align:left}")
            .Append(".down{color:#b00}</style></head><body>")
            .Append("<h1>ferry relay</h1><p>pid ").Append(s.Pid).Append(" &middot; <a href=\"/status\">status JSON</a> &middot; ")
            .Append("<a href=\"/metrics\">metrics</a></p><h2>Databases</h2><table><tr><th>database</th><th>state</th><th>since</th><th>last error</th></tr>");
        foreach (var d in s.Databases)
            html.Append("<tr><td>").Append(E(d.Name)).Append("</td><td class=\"").Append(d.Reachable ? "up\">up" : "down\">down")
                .Append("</td><td>").Append(d.Since.ToString("u", System.Globalization.CultureInfo.InvariantCulture)).Append("</td><td>")
                .Append(E(d.LastError)).Append("</td></tr>");
        html.Append("</table><h2>Pairs</h2><table><tr><th>sync</th><th>source</th><th>target</th><th>state</th><th>rows moved</th>")
            .Append("<th>lag rows</th><th>lag s</th><th>last good</th><th>last error</th></tr>");
        foreach (var p in s.Pairs)
            html.Append("<tr><td>").Append(E(p.Sync)).Append("</td><td>").Append(E(p.Source)).Append("</td><td>").Append(E(p.Target))
                .Append("</td><td>").Append(E(p.State)).Append("</td><td>").Append(p.RowsMoved).Append("</td><td>").Append(p.LagRows?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?")
                .Append(p.LagStale ? " <span class=\"down\">(stale" + (p.LagStaleSince is { } since ? " since " + since.ToString("u", System.Globalization.CultureInfo.InvariantCulture) : "") + ")</span>" : "")
                .Append("</td><td>").Append(p.LagSeconds?.ToString("F1", System.Globalization.CultureInfo.InvariantCulture) ?? "?")
                .Append("</td><td>").Append(p.LastGood?.ToString("u", System.Globalization.CultureInfo.InvariantCulture))
                .Append("</td><td>").Append(E(p.LastError)).Append("</td></tr>");
        html.Append("</table>");
        if (s.HeldTables.Count > 0)
        {
            html.Append("<h2>Held tables</h2><table><tr><th>pair</th><th>table</th><th>cause</th><th>since</th><th>fix</th></tr>");
            foreach (var h in s.HeldTables)
                html.Append("<tr><td>").Append(E($"{h.Sync}: {h.Source} -> {h.Target}")).Append("</td><td>").Append(E(h.Table))
                    .Append("</td><td class=\"down\">").Append(E(h.Cause)).Append("</td><td>")
                    .Append(h.Since.ToString("u", System.Globalization.CultureInfo.InvariantCulture)).Append("</td><td>")
                    .Append(E(h.Fix)).Append("</td></tr>");
            html.Append("</table>");
        }
        CopiesTable.Render(html, s.Copies);
        return html.Append("</body></html>").ToString();
    }

    private static string E(string? text) => WebUtility.HtmlEncode(text ?? "");
}
