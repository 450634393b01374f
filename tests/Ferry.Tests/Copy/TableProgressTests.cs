using Ferry.Copy;
using Xunit;

namespace Ferry.Tests.Copy;

/// <summary>The progress line's figures, without a server: percent, rate, ETA, and what an estimate cannot promise.</summary>
public sealed class TableProgressTests
{
    private static readonly TableName Table = new("public", "t");

    [Fact]
    public void a_line_gives_rows_of_the_estimate_percent_rate_throughput_and_time_left()
    {
        var p = new TableProgress("copy db1 -> db3", Table, 1, 2, 1_200_000, 2_000_000, 90_000_000, 850_000, TimeSpan.FromSeconds(10), false);
        Assert.Equal("copy db1 -> db3 \"public\".\"t\": 1200000/2000000 rows (60%), 85000 rows/s, 9.0 MB/s, ETA 10 s", p.Line());
    }

    [Fact]
    public void an_estimate_too_short_never_shows_100_percent_before_the_end_and_no_eta_comes_from_the_first_second()
    {
        var over = new TableProgress("copy a -> b", Table, 1, 1, 2_500, 2_000, 0, 2_500, TimeSpan.FromSeconds(5), false);
        Assert.Equal(99, over.Percent);
        Assert.Null(new TableProgress("copy a -> b", Table, 1, 1, 1, 2_000, 0, 1, TimeSpan.FromSeconds(0.2), false).Eta);
        var done = over with { Done = true };
        Assert.Equal(100, done.Percent);
        Assert.Contains("2500/2500 rows (100%)", done.Line(), StringComparison.Ordinal);
        Assert.Contains("done in 5 s", done.Line(), StringComparison.Ordinal);
    }
}
