using System.Diagnostics;
using Ferry.Postgres;
using Npgsql;

namespace Ferry.Copy;

/// <summary>
/// Measures one table's copy as its COPY streams pass (<see cref="Read.CopyPump"/>) and tells
/// <see cref="TableProgress"/> at most every <see cref="Every"/>, plus at the table's start and end: a pump piece is
/// 128 KiB, and a fast link moves thousands of them a second.
/// </summary>
public sealed class CopyMeter
{
    private static readonly TimeSpan Every = TimeSpan.FromMilliseconds(200);

    /// <summary>Up to this size a table is counted exactly (a second's scan at most); beyond, the planner's estimate.</summary>
    private const long CountUpToBytes = 64L * 1024 * 1024;

    private readonly string _work;
    private readonly TableName _table;
    private readonly int _number;
    private readonly int _tables;
    private readonly long? _estimate;
    private readonly IProgress<TableProgress> _progress;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly long _rowsBefore;
    private long _rowsDone, _bytesDone, _sliceRows, _sliceBytes;
    private TimeSpan _lastTold;

    /// <param name="rowsBefore">rows an earlier attempt copied and committed: done already, not part of the rate</param>
    public CopyMeter(string work, TableName table, int number, int tables, long rowsBefore, long? estimate, IProgress<TableProgress> progress)
    {
        (_work, _table, _number, _tables, _rowsBefore, _estimate, _progress) = (work, table, number, tables, rowsBefore, estimate, progress);
        Tell(false, null);
    }

    /// <summary>The slice in flight has moved so far <paramref name="bytes"/> and <paramref name="rows"/>.</summary>
    public void Moved(long bytes, long rows)
    {
        (_sliceBytes, _sliceRows) = (bytes, rows);
        if (_clock.Elapsed - _lastTold >= Every) Tell(false, null);
    }

    /// <summary>A slice committed with <paramref name="rows"/> rows read.</summary>
    public void SliceDone(long rows)
    {
        _rowsDone += rows;
        _bytesDone += _sliceBytes;
        (_sliceBytes, _sliceRows) = (0, 0);
        if (_clock.Elapsed - _lastTold >= Every) Tell(false, null);
    }

    /// <summary>The table is done, holding <paramref name="rows"/> rows from the copy (over every attempt).</summary>
    public void Done(long rows) => Tell(true, rows);

    private void Tell(bool done, long? total)
    {
        _lastTold = _clock.Elapsed;
        var thisRun = _rowsDone + _sliceRows;
        _progress.Report(new TableProgress(_work, _table, _number, _tables, total ?? _rowsBefore + thisRun,
            done ? total : _estimate, _bytesDone + _sliceBytes, thisRun, _clock.Elapsed, done));
    }

    /// <summary>
    /// <see cref="EstimateAsync"/> in one statement, for a caller that pipelines it: the table's size, the planner's
    /// figure, and its count when small enough (the count's subquery runs only when the CASE needs it).
    /// </summary>
    public static string EstimateSql(TableName table) => $"""
        SELECT s.size, s.tuples, CASE WHEN s.size <= {CountUpToBytes} THEN (SELECT count(*) FROM {Quote.Qualified(table)}) END
        FROM (SELECT coalesce(sum(pg_catalog.pg_relation_size(p.relid)), 0)::bigint AS size,
                     coalesce(sum(greatest(c.reltuples, 0)), 0)::float8 AS tuples
              FROM pg_catalog.pg_partition_tree({Quote.Literal(Quote.Qualified(table))}::pg_catalog.regclass) AS p
              JOIN pg_catalog.pg_class AS c ON c.oid = p.relid) AS s
        """;

    /// <summary>What <see cref="EstimateSql"/>'s row says the table holds.</summary>
    public static long? Estimate(long size, double tuples, long? count) => count ?? (tuples > 0 || size == 0 ? (long)tuples : null);

    /// <summary>
    /// The rows the table holds, in the caller's snapshot: counted when the table (every partition) is small enough
    /// to count in about a second and <paramref name="count"/> allows, else the planner's figure (reltuples), else
    /// null (never analyzed, and large).
    /// </summary>
    public static async Task<long?> EstimateAsync(NpgsqlConnection c, TableName table, CancellationToken ct, bool count = true)
    {
        long size;
        double tuples;
        await using (var cmd = new NpgsqlCommand("""
            SELECT coalesce(sum(pg_catalog.pg_relation_size(p.relid)), 0)::bigint,
                   coalesce(sum(greatest(c.reltuples, 0)), 0)::float8
            FROM pg_catalog.pg_partition_tree($1::pg_catalog.regclass) AS p JOIN pg_catalog.pg_class AS c ON c.oid = p.relid
            """, c))
        {
            cmd.Parameters.AddWithValue(Quote.Qualified(table));
            await using var r = await cmd.ExecuteReaderAsync(ct);
            await r.ReadAsync(ct);
            (size, tuples) = (r.GetInt64(0), r.GetDouble(1));
        }
        if (!count || size > CountUpToBytes) return tuples > 0 || size == 0 ? (long)tuples : null;
        await using var exact = new NpgsqlCommand($"SELECT count(*) FROM {Quote.Qualified(table)}", c) { CommandTimeout = 0 };
        return (long)(await exact.ExecuteScalarAsync(ct))!;
    }
}
