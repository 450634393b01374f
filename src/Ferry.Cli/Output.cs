namespace Ferry.Cli;

/// <summary>Plain, aligned text for people; every verb writes through here.</summary>
public static class Output
{
    /// <summary>Whether a live progress line is on the terminal, to be cleared before anything else is written.</summary>
    private static bool _live;

    public static void Line(string text = "")
    {
        ClearLive();
        Console.Out.WriteLine(text);
    }

    public static void Error(string text)
    {
        ClearLive();
        Console.Error.WriteLine("ferry: " + text);
    }

    /// <summary>Rewrites the terminal's current line in place (ProgressDisplay); the next line written replaces it.</summary>
    public static void Live(string text)
    {
        Console.Out.Write("\r" + text + "\u001b[K");
        Console.Out.Flush();
        _live = true;
    }

    private static void ClearLive()
    {
        if (!_live) return;
        _live = false;
        Console.Out.Write("\r\u001b[K");
    }

    /// <summary>A command's retries of its database steps through a failing link, each said on stderr.</summary>
    public static Ferry.Postgres.LinkRetry Retry() => Ferry.Postgres.LinkRetry.ForSetup(Error);

    public static void Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string?>> rows)
    {
        var all = rows.Select(r => r.Select(c => c ?? "").ToList()).ToList();
        var widths = header.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => r[i].Length))).ToList();
        Line(string.Join("  ", header.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        foreach (var r in all) Line(string.Join("  ", r.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
    }

    public static string Ago(string? isoTime)
    {
        if (isoTime is null || !DateTimeOffset.TryParse(isoTime, System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.None, out var t))
            return "never";
        var span = DateTimeOffset.UtcNow - t;
        return span.TotalSeconds < 90 ? $"{span.TotalSeconds:F0}s ago"
            : span.TotalMinutes < 90 ? $"{span.TotalMinutes:F0}m ago"
            : span.TotalHours < 48 ? $"{span.TotalHours:F1}h ago"
            : $"{span.TotalDays:F1}d ago";
    }
}
