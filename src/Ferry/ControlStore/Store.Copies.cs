using Ferry.Copy;

namespace Ferry.ControlStore;

/// <param name="Pid">the process that runs or ran the copy</param>
/// <param name="Progress">where it stands (control_006_copy_progress.sql); null before its first table</param>
public sealed record CopyStatus(string Sync, string Source, string Target, int Pid, string StartedAt, string UpdatedAt, string? LastError,
    CopyProgressRecord? Progress = null);

/// <summary>A copy's last recorded progress: the table it is on (of how many), rows done of the estimate, rates.</summary>
public sealed record CopyProgressRecord(string Table, int TableNumber, int Tables, long RowsDone, long? RowsEstimate,
    double RowsPerSecond, double BytesPerSecond, double? EtaSeconds, string UpdatedAt);

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

    public async Task EndCopyAsync(string sync, string target, CancellationToken ct)
    {
        await ExecuteAsync("DELETE FROM copies WHERE sync = @s AND target = @tgt", ct, ("@s", sync), ("@tgt", target));
        await ExecuteAsync("DELETE FROM copy_progress WHERE sync = @s AND target = @tgt", ct, ("@s", sync), ("@tgt", target));
    }

    /// <summary>Where a running copy stands; the copying process writes it every few seconds and at each table's end.</summary>
    public Task RecordCopyProgressAsync(string sync, string target, TableProgress p, CancellationToken ct) =>
        ExecuteAsync("""
            INSERT INTO copy_progress (sync, target, table_name, table_number, tables, rows_done, rows_estimate,
                                       rows_per_second, bytes_per_second, eta_seconds, updated_at)
            VALUES (@s, @tgt, @table, @n, @tables, @rows, @estimate, @rate, @bytes, @eta, @t)
            ON CONFLICT (sync, target) DO UPDATE SET
                table_name = excluded.table_name, table_number = excluded.table_number, tables = excluded.tables,
                rows_done = excluded.rows_done, rows_estimate = excluded.rows_estimate,
                rows_per_second = excluded.rows_per_second, bytes_per_second = excluded.bytes_per_second,
                eta_seconds = excluded.eta_seconds, updated_at = excluded.updated_at
            """, ct, ("@s", sync), ("@tgt", target), ("@table", p.Table.ToString()), ("@n", p.TableNumber), ("@tables", p.Tables),
            ("@rows", p.Rows), ("@estimate", p.Done ? p.Rows : p.Estimate), ("@rate", p.RowsPerSecond), ("@bytes", p.BytesPerSecond),
            ("@eta", p.Eta?.TotalSeconds), ("@t", Now()));

    public Task<List<CopyStatus>> ListCopiesAsync(CancellationToken ct) =>
        QueryAsync("""
            SELECT c.sync, c.source, c.target, c.pid, c.started_at, c.updated_at, c.last_error,
                   p.table_name, p.table_number, p.tables, p.rows_done, p.rows_estimate, p.rows_per_second,
                   p.bytes_per_second, p.eta_seconds, p.updated_at
            FROM copies AS c LEFT JOIN copy_progress AS p ON p.sync = c.sync AND p.target = c.target
            ORDER BY c.sync, c.target
            """, MapCopy, ct);

    private static CopyStatus MapCopy(System.Data.Common.DbDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), (int)r.GetInt64(3), r.GetString(4), r.GetString(5),
            r.IsDBNull(6) ? null : r.GetString(6),
            r.FieldCount <= 7 || r.IsDBNull(7) ? null : new CopyProgressRecord(r.GetString(7), (int)r.GetInt64(8), (int)r.GetInt64(9),
                r.GetInt64(10), r.IsDBNull(11) ? null : r.GetInt64(11), r.GetDouble(12), r.GetDouble(13),
                r.IsDBNull(14) ? null : r.GetDouble(14), r.GetString(15)));
}
