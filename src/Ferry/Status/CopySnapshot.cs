using System.Globalization;
using Ferry.ControlStore;

namespace Ferry.Status;

/// <summary>
/// A copy into a target (add sync onetimecopy=, ferry copy) that began and has not finished, as the status document
/// shows it: running (<c>copying</c>), <c>interrupted</c> (Ctrl-C, SIGTERM), <c>failed</c> (an error; see
/// <see cref="LastError"/>), or <c>stopped</c> (its process ended without a word: killed). Each but the first
/// resumes with <see cref="Resume"/>. Progress figures are the last recorded, at <see cref="ProgressAt"/>.
/// </summary>
public sealed record CopySnapshot(string Sync, string Source, string Target, string State, int Pid, DateTimeOffset StartedAt,
    string? Table, int? TableNumber, int? Tables, long? RowsDone, long? RowsEstimate, int? Percent, double? RowsPerSecond,
    double? BytesPerSecond, double? EtaSeconds, DateTimeOffset? ProgressAt, string? LastError, string Resume)
{
    /// <param name="running">whether the copy's process still runs</param>
    /// <param name="syncAdded">whether its sync exists: an interrupted `add sync` is resumed by running it again</param>
    public static CopySnapshot Of(CopyStatus c, Func<int, bool> running, bool syncAdded)
    {
        var state = c.LastError == "interrupted" ? "interrupted" : c.LastError is not null ? "failed"
            : running(c.Pid) ? "copying" : "stopped";
        var p = c.Progress;
        int? percent = p?.RowsEstimate is > 0 ? (int)Math.Min(100, p.RowsDone * 100 / p.RowsEstimate.Value) : null;
        return new CopySnapshot(c.Sync, c.Source, c.Target, state, c.Pid, Time(c.StartedAt)!.Value, p?.Table, p?.TableNumber,
            p?.Tables, p?.RowsDone, p?.RowsEstimate, percent, p?.RowsPerSecond, p?.BytesPerSecond, p?.EtaSeconds, Time(p?.UpdatedAt),
            state == "failed" ? c.LastError : null,
            syncAdded ? $"ferry copy {c.Sync} to={c.Target} from={c.Source}" : $"sync {c.Sync} was not added: run the same ferry add sync again");
    }

    /// <summary>Whether a process runs: for the relay, which cannot tell a ferry from another program by name.</summary>
    public static bool ProcessAlive(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    public static async Task<IReadOnlyList<CopySnapshot>> ListAsync(Store store, Func<int, bool> running, CancellationToken ct)
    {
        var syncs = (await store.ListSyncsAsync(ct)).Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        return (await store.ListCopiesAsync(ct)).Select(c => Of(c, running, syncs.Contains(c.Sync))).ToList();
    }

    private static DateTimeOffset? Time(string? t) =>
        t is null ? null : DateTimeOffset.Parse(t, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
}
