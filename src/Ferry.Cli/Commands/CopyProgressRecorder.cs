using Ferry.ControlStore;
using Ferry.Copy;

namespace Ferry.Cli.Commands;

/// <summary>
/// A copy's progress, shown (<see cref="ProgressDisplay"/>) and mirrored in the control store every
/// FERRY_PROGRESS_SECONDS and at each table's end, for `ferry status` and the relay's /status while it runs. The store
/// is written behind the copy, one record at a time, so the copy never waits on it.
/// </summary>
internal sealed class CopyProgressRecorder(Store store, string sync, string target, ProgressDisplay display) : IProgress<TableProgress>
{
    private readonly TimeSpan _every = Defaults.ProgressInterval;
    private DateTime _lastWritten = DateTime.MinValue;
    private Task _writing = Task.CompletedTask;

    public void Report(TableProgress value)
    {
        display.Report(value);
        var now = DateTime.UtcNow;
        if (!value.Done && now - _lastWritten < _every) return;
        _lastWritten = now;
        _writing = _writing.ContinueWith(async _ =>
        {
            try
            {
                await store.RecordCopyProgressAsync(sync, target, value, CancellationToken.None);
            }
            catch (Exception)
            {
                // Only a mirror for people (a store busy past its timeout): the copy's own cursor is in the target.
            }
        }, TaskScheduler.Default).Unwrap();
    }

    /// <summary>Waits for the records still being written, before the copy's row is ended or marked.</summary>
    public Task FlushAsync() => _writing;
}
