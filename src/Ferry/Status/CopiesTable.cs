using System.Globalization;
using System.Net;
using System.Text;

namespace Ferry.Status;

/// <summary>
/// The status page's "Copies in progress" block: one row per unfinished copy, with its table, rows, rate and ETA, or
/// the command that resumes it. Self-contained, so the page around it can change freely; nothing when no copy is
/// unfinished.
/// </summary>
public static class CopiesTable
{
    public static void Render(StringBuilder html, IReadOnlyList<CopySnapshot> copies)
    {
        if (copies.Count == 0) return;
        var inv = CultureInfo.InvariantCulture;
        html.Append("<h2>Copies in progress</h2><table class=\"copies\"><tr><th>sync</th><th>from</th><th>into</th><th>state</th>")
            .Append("<th>table</th><th>rows</th><th>%</th><th>rows/s</th><th>ETA</th><th>as of</th><th>to resume</th></tr>");
        foreach (var c in copies)
        {
            var running = c.State == "copying";
            html.Append("<tr><td>").Append(E(c.Sync)).Append("</td><td>").Append(E(c.Source)).Append("</td><td>").Append(E(c.Target))
                .Append("</td><td").Append(running ? ">" : " class=\"down\">").Append(E(c.State + (c.LastError is null ? "" : ": " + c.LastError)))
                .Append("</td><td>").Append(E(c.Table is null ? "" : $"{c.Table} ({c.TableNumber}/{c.Tables})"))
                .Append("</td><td>").Append(c.RowsDone?.ToString(inv)).Append(c.RowsEstimate is { } e ? " / " + e.ToString(inv) : "")
                .Append("</td><td>").Append(c.Percent?.ToString(inv))
                .Append("</td><td>").Append(running ? c.RowsPerSecond?.ToString("F0", inv) : "")
                .Append("</td><td>").Append(running && c.EtaSeconds is { } eta ? E(Copy.TableProgress.Duration(TimeSpan.FromSeconds(eta))) : "")
                .Append("</td><td>").Append(c.ProgressAt?.ToString("u", inv))
                .Append("</td><td>").Append(running ? "" : "<code>" + E(c.Resume) + "</code>").Append("</td></tr>");
        }
        html.Append("</table>");
    }

    private static string E(string? text) => WebUtility.HtmlEncode(text ?? "");
}
