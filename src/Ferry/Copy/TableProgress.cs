using System.Globalization;

namespace Ferry.Copy;

/// <summary>
/// Where a long piece of work (a one-time copy, a compare) stands on one of its tables: what the library tells its
/// caller through an <see cref="IProgress{T}"/>, so that the command line, the control store and the status page can
/// each show it their own way. Told often while a table moves, and once with <see cref="Done"/> at its end.
/// </summary>
/// <param name="Work">what runs and where: "copy db1 -> db3", "compare s"</param>
/// <param name="TableNumber">1-based, of <paramref name="Tables"/></param>
/// <param name="Rows">rows done on this table, over every attempt (a resumed copy counts what it kept)</param>
/// <param name="Estimate">the rows the table holds, exact when counting was cheap, else the planner's estimate; null: unknown</param>
/// <param name="Bytes">bytes moved in this run, 0 when the work moves none (a compare)</param>
/// <param name="RowsThisRun">rows done since <paramref name="Elapsed"/> began: what the rate is measured on</param>
public sealed record TableProgress(string Work, TableName Table, int TableNumber, int Tables, long Rows, long? Estimate,
    long Bytes, long RowsThisRun, TimeSpan Elapsed, bool Done)
{
    public double RowsPerSecond => Elapsed.TotalSeconds > 0.001 ? RowsThisRun / Elapsed.TotalSeconds : 0;

    public double BytesPerSecond => Elapsed.TotalSeconds > 0.001 ? Bytes / Elapsed.TotalSeconds : 0;

    /// <summary>100 once done; below that never more than 99, since an estimate may be short.</summary>
    public int? Percent => Done ? 100 : Estimate is > 0 ? (int)Math.Min(99, Rows * 100 / Estimate.Value) : null;

    /// <summary>
    /// Time left at the current rate; null while unknown: no estimate, or less than a second measured (the first rows
    /// of a table come after its setup, and a rate from them promised a day for a minute's copy).
    /// </summary>
    public TimeSpan? Eta => Done ? TimeSpan.Zero
        : Estimate is { } e && RowsPerSecond > 0 && Elapsed >= TimeSpan.FromSeconds(1)
            ? TimeSpan.FromSeconds(Math.Max(0, e - Rows) / RowsPerSecond) : null;

    /// <summary>One line for people and logs: <c>copy db1 -> db3 public.t: 1200000/2000000 rows (60%), 85000 rows/s, 9.1 MB/s, ETA 9 s</c>.</summary>
    public string Line()
    {
        var inv = CultureInfo.InvariantCulture;
        var line = $"{Work} {Table}: {Rows.ToString(inv)}{(Estimate is { } e ? "/" + Math.Max(e, Done ? Rows : e).ToString(inv) : "")} rows";
        if (Percent is { } p) line += $" ({p.ToString(inv)}%)";
        line += $", {RowsPerSecond.ToString("F0", inv)} rows/s";
        if (Bytes > 0) line += $", {(BytesPerSecond / 1_000_000).ToString("F1", inv)} MB/s";
        if (Done) return line + $", done in {Duration(Elapsed)}";
        return Eta is { } eta ? line + $", ETA {Duration(eta)}" : line;
    }

    public static string Duration(TimeSpan t) =>
        t.TotalSeconds < 90 ? $"{Math.Ceiling(t.TotalSeconds).ToString("F0", CultureInfo.InvariantCulture)} s"
        : t.TotalMinutes < 90 ? $"{Math.Round(t.TotalMinutes).ToString("F0", CultureInfo.InvariantCulture)} min"
        : $"{t.TotalHours.ToString("F1", CultureInfo.InvariantCulture)} h";
}
