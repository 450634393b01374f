using Ferry.Copy;

namespace Ferry.Cli;

/// <summary>
/// Shows a copy's or a compare's <see cref="TableProgress"/>. On a terminal, one live line rewritten in place a few
/// times a second; otherwise (a pipe, a log, `--quiet`, FERRY_PROGRESS=plain) a plain line every
/// FERRY_PROGRESS_SECONDS and one at each table's end, so that a copy of hours over a slow link is never silent in a
/// log. Remembers the last progress, which is what an interruption reports as done.
/// </summary>
public sealed class ProgressDisplay : IProgress<TableProgress>
{
    private static readonly TimeSpan LiveEvery = TimeSpan.FromMilliseconds(250);
    private readonly string _mode;
    private readonly TimeSpan _every;
    private DateTime _lastShown = DateTime.MinValue;
    private (string Work, TableName Table)? _current;

    private ProgressDisplay(string mode, TimeSpan every) => (_mode, _every) = (mode, every);

    /// <summary>The last progress told, null before any.</summary>
    public TableProgress? Last { get; private set; }

    /// <summary>
    /// The display the command line asks for: `quiet` (or `--quiet`) means plain lines. Reads the key, so call it
    /// before <see cref="BucardoArguments.RejectUnknown"/>; `--quiet SYNC` reads as quiet=SYNC, so such a value is a word.
    /// </summary>
    public static ProgressDisplay FromArguments(BucardoArguments args)
    {
        var quiet = args.Get("quiet");
        if (quiet is not null && quiet is not ("1" or "true" or "yes")) args.Words.Add(quiet);
        var mode = Defaults.ProgressMode;
        if (mode == "auto") mode = quiet is not null || Console.IsOutputRedirected ? "plain" : "live";
        return new ProgressDisplay(mode, Defaults.ProgressInterval);
    }

    public void Report(TableProgress value)
    {
        Last = value;
        if (_mode == "off") return;
        var now = DateTime.UtcNow;
        if (_current != (value.Work, value.Table))
        {
            // A new table: plain output waits a full interval before its first line, so a small table shows one line.
            _current = (value.Work, value.Table);
            _lastShown = now;
        }
        if (_mode == "live")
        {
            if (!value.Done && now - _lastShown < LiveEvery) return;
            _lastShown = now;
            var line = $"[{value.TableNumber}/{value.Tables}] {value.Line()}";
            var width = Console.IsOutputRedirected ? int.MaxValue : Math.Max(20, Console.WindowWidth - 1);
            if (value.Done) Output.Line(line);
            else Output.Live(line.Length > width ? line[..width] : line);
            return;
        }
        if (!value.Done && now - _lastShown < _every) return;
        _lastShown = now;
        Output.Line(value.Line());
    }

    /// <summary>Where the work stood, for the interruption's message: "in TABLE at N of M rows".</summary>
    public string WhereStopped() => Last is not { } p ? "before its first table"
        : p.Done ? $"after {p.Table} ({p.TableNumber} of {p.Tables} tables)"
        : $"in {p.Table} ({p.TableNumber} of {p.Tables} tables) at {p.Rows}{(p.Estimate is { } e ? $" of about {e}" : "")} rows";
}
