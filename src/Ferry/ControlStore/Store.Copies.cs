namespace Ferry.ControlStore;

/// <param name="Pid">the process that runs or ran the copy</param>
public sealed record CopyStatus(string Sync, string Source, string Target, int Pid, string StartedAt, string UpdatedAt, string? LastError);

/// <summary>Copies that began and have not finished (control_003_copies.sql), for `ferry status`.</summary>
public sealed partial class Store
{
    /// <summary>
    /// A copy starts, or starts again (the first start is kept, so status says how long it has been unfinished);
    /// unless a copy into the same target runs in another process (<paramref name="isRunning"/> says of its pid):
    /// then that one is returned and nothing recorded. One write transaction, so two copies started at once cannot
    /// both pass.
    /// </summary>
    public async Task<CopyStatus?> BeginCopyAsync(string sync, string source, string target, Func<int, bool> isRunning,
        CancellationToken ct)
    {
        CopyStatus? running = null;
        await InTransactionAsync(async tx =>
        {
            running = null;
            await using (var query = Command(tx,
                "SELECT sync, source, target, pid, started_at, updated_at, last_error FROM copies WHERE sync = $s AND target = $tgt",
                ("$s", sync), ("$tgt", target)))
            {
                await using var r = await query.ExecuteReaderAsync(ct);
                if (await r.ReadAsync(ct) && isRunning((int)r.GetInt64(3))) running = MapCopy(r);
            }
            if (running is not null) return;
            await Run(tx, """
                INSERT INTO copies (sync, source, target, pid, started_at, updated_at) VALUES ($s, $src, $tgt, $pid, $t, $t)
                ON CONFLICT (sync, target) DO UPDATE SET
                    started_at = CASE WHEN copies.source = excluded.source THEN copies.started_at ELSE excluded.started_at END,
                    source = excluded.source, pid = excluded.pid, updated_at = excluded.updated_at, last_error = NULL
                """, ("$s", sync), ("$src", source), ("$tgt", target), ("$pid", Environment.ProcessId), ("$t", Now()));
        }, ct);
        return running;
    }

    public Task CopyFailedAsync(string sync, string target, string error, CancellationToken ct) =>
        ExecuteAsync("UPDATE copies SET last_error = $e, updated_at = $t WHERE sync = $s AND target = $tgt",
            ct, ("$s", sync), ("$tgt", target), ("$e", error), ("$t", Now()));

    public Task EndCopyAsync(string sync, string target, CancellationToken ct) =>
        ExecuteAsync("DELETE FROM copies WHERE sync = $s AND target = $tgt", ct, ("$s", sync), ("$tgt", target));

    public Task<List<CopyStatus>> ListCopiesAsync(CancellationToken ct) =>
        QueryAsync("SELECT sync, source, target, pid, started_at, updated_at, last_error FROM copies ORDER BY sync, target",
            MapCopy, ct);

    private static CopyStatus MapCopy(System.Data.Common.DbDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), (int)r.GetInt64(3), r.GetString(4), r.GetString(5),
            r.IsDBNull(6) ? null : r.GetString(6));
}
