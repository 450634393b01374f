using System.Text;
using Ferry.Status;
using Xunit;

namespace Ferry.Tests.Status;

/// <summary>The page's "Copies in progress" block, without a relay: a running copy's figures, a stopped one's resume command.</summary>
public sealed class CopiesTableTests
{
    [Fact]
    public void the_page_shows_a_running_copys_rows_and_eta_and_an_interrupted_ones_command_escaped()
    {
        var at = DateTimeOffset.Parse("2026-12-04T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        var running = new CopySnapshot("s", "db1", "db3", "copying", 42, at, "\"public\".\"t\"", 1, 2, 1_200_000, 2_000_000, 60, 85_000,
            9e6, 9.4, at, null, "ferry copy s to=db3 from=db1");
        var stopped = running with { Target = "db<2>", State = "interrupted", Resume = "ferry copy s to=db<2> from=db1" };
        var html = new StringBuilder();
        CopiesTable.Render(html, [running, stopped]);
        var page = html.ToString();
        Assert.Contains("<h2>Copies in progress</h2>", page, StringComparison.Ordinal);
        Assert.Contains("<td>1200000 / 2000000</td><td>60</td><td>85000</td><td>10 s</td>", page, StringComparison.Ordinal);
        Assert.Contains("<code>ferry copy s to=db&lt;2&gt; from=db1</code>", page, StringComparison.Ordinal);
        var none = new StringBuilder();
        CopiesTable.Render(none, []);
        Assert.Equal("", none.ToString());
    }
}
