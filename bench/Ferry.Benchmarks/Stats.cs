using System.Diagnostics;

namespace Ferry.Benchmarks;

/// <summary>Order statistics and clock helpers.</summary>
public static class Stats
{
    /// <summary>The middle value, or the mean of the two middle values.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        if (sorted.Length == 0) return double.NaN;
        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>Nearest-rank percentile: the smallest value with at least p% of the values at or below it.</summary>
    public static double Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        if (sorted.Length == 0) return double.NaN;
        var rank = (int)Math.Ceiling(p / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public static double Millis(long fromTimestamp, long toTimestamp) =>
        Stopwatch.GetElapsedTime(fromTimestamp, toTimestamp).TotalMilliseconds;

    public static double Round(double value, int digits = 1) => Math.Round(value, digits, MidpointRounding.AwayFromZero);
}
