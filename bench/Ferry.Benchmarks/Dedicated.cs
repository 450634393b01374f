namespace Ferry.Benchmarks;

/// <summary>
/// Runs a measuring loop on a thread of its own, with blocking calls. The relay runs in this process too, on the
/// thread pool: a probe whose continuations queued behind the relay's work would time the pool, not ferry.
/// </summary>
public static class Dedicated
{
    public static Task<T> Run<T>(string name, Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                done.SetResult(work());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        })
        {
            IsBackground = true,
            Name = name,
            Priority = ThreadPriority.AboveNormal,
        };
        thread.Start();
        return done.Task;
    }
}
