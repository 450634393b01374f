using Ferry.Capture;
using Ferry.Copy;
using Ferry.Install;
using Ferry.Postgres;
using Npgsql;

namespace Ferry.Compare;

/// <summary>How one database's copy of a table differs from the reference database's, by primary key (as text).</summary>
public sealed record TableDifference(string Database, IReadOnlyList<string[]> Missing, IReadOnlyList<string[]> Extra,
    IReadOnlyList<string[]> Different)
{
    public int Count => Missing.Count + Extra.Count + Different.Count;

    /// <summary>Every key that differs, whichever way.</summary>
    public IEnumerable<string[]> Keys => Missing.Concat(Extra).Concat(Different);
}

public sealed record TableComparison(TableName Table, string Reference, long ReferenceRows, IReadOnlyList<TableDifference> Differences)
{
    public bool Same => Differences.All(d => d.Count == 0);
}

/// <summary>
/// Compares a table across databases without moving it: each database hashes every row (its columns' text, in one
/// column order, under the same output settings) and sums the hashes per bucket of keys; only the buckets whose
/// count or sum differ are fetched again, as one key and hash per row, to name the rows that differ. Each pass is
/// one REPEATABLE READ snapshot per database; rows that change meanwhile (replication in flight) show up as
/// differences, so compare a quiet or caught-up sync, or compare again.
/// </summary>
public static class TableComparer
{
    public const int Buckets = 64;

    /// <param name="progress">told the rows summed so far over all databases, after each database's pass (one
    /// aggregate query each, which says nothing while it runs), against the planner's estimate: compare only reads, so
    /// counting first would double its work</param>
    /// <param name="work">how the progress names this compare</param>
    public static async Task<TableComparison> CompareAsync(IReadOnlyList<(string Name, NpgsqlConnection Connection)> databases,
        TableShape shape, CancellationToken ct, IProgress<TableProgress>? progress = null, string work = "compare",
        int tableNumber = 1, int tables = 1)
    {
        var table = Quote.Qualified(shape.Name);
        var keyText = $"ROW({Quote.List(shape.Key, "t")})::text";
        var rowText = $"ROW({Quote.List(shape.Columns.Select(c => c.Name).Order(StringComparer.Ordinal), "t")})::text";
        var bucket = $"(hashtextextended({keyText}, 0) & {Buckets - 1})";
        var summarySql = $"SELECT {bucket}, count(*), sum(hashtextextended({rowText}, 0)) FROM {table} AS t GROUP BY 1";
        var keys = $"ARRAY[{string.Join(", ", shape.Key.Select(k => $"t.{Quote.Ident(k)}::text"))}]";
        var rowsSql = $"SELECT {keys}, hashtextextended({rowText}, 0), {bucket} FROM {table} AS t WHERE {bucket} = ANY ($1)";

        var clock = System.Diagnostics.Stopwatch.StartNew();
        long? estimate = progress is null ? null : 0;
        foreach (var (_, c) in databases)
            if (estimate is not null)
                estimate = await CopyMeter.EstimateAsync(c, shape.Name, ct, count: false) is { } e ? estimate + e : null;
        long summed = 0;
        void Tell(bool done) =>
            progress?.Report(new TableProgress(work, shape.Name, tableNumber, tables, summed, done ? summed : estimate, 0, summed, clock.Elapsed, done));
        Tell(false);
        var summaries = new List<Dictionary<long, (long Rows, decimal Sum)>>();
        foreach (var (_, c) in databases)
        {
            summaries.Add(await SummaryAsync(c, summarySql, ct));
            summed += summaries[^1].Values.Sum(v => v.Rows);
            Tell(false);
        }
        var reference = summaries[0];
        var differing = summaries.Select(s => reference.Keys.Union(s.Keys)
            .Where(b => !reference.TryGetValue(b, out var r) || !s.TryGetValue(b, out var o) || r != o).ToHashSet()).ToList();
        // The reference's rows of every bucket some database disagrees on, fetched once for all of them.
        var all = differing.Skip(1).SelectMany(d => d).Distinct().Order().ToArray();
        var referenceRows = all.Length == 0 ? [] : await RowsAsync(databases[0].Connection, rowsSql, all, ct);
        var differences = new List<TableDifference>();
        for (var i = 1; i < databases.Count; i++)
        {
            if (differing[i].Count == 0)
            {
                differences.Add(new TableDifference(databases[i].Name, [], [], []));
                continue;
            }
            var other = await RowsAsync(databases[i].Connection, rowsSql, differing[i].Order().ToArray(), ct);
            var missing = new List<string[]>();
            var different = new List<string[]>();
            foreach (var (k, row) in referenceRows.Where(r => differing[i].Contains(r.Value.Bucket)))
            {
                if (!other.TryGetValue(k, out var o)) missing.Add(row.Key);
                else if (o.Hash != row.Hash) different.Add(row.Key);
            }
            var extra = other.Where(o => !referenceRows.ContainsKey(o.Key)).Select(o => o.Value.Key).ToList();
            differences.Add(new TableDifference(databases[i].Name, missing, extra, different));
        }
        Tell(true);
        return new TableComparison(shape.Name, databases[0].Name, reference.Values.Sum(v => v.Rows), differences);
    }

    /// <summary>
    /// Sends the given keys from <paramref name="source"/> to the sync's other databases as fresh local changes: each key
    /// goes into the source's change log, and the relay carries the source's row, or its absence, everywhere.
    /// </summary>
    public static async Task<int> RepairAsync(NpgsqlConnection source, TableShape shape, IReadOnlyList<string[]> keys, CancellationToken ct)
    {
        if (keys.Count == 0) return 0;
        var names = new CaptureNames(shape.Name);
        var columns = shape.KeyColumns.ToList();
        var sql = $"INSERT INTO {names.Log} ({Quote.List(shape.Key)}, ferry_captured) " +
                  $"SELECT {string.Join(", ", columns.Select((c, i) => $"k.c{i}::{c.Type}"))}, clock_timestamp() " +
                  $"FROM unnest({string.Join(", ", columns.Select((_, i) => $"${i + 1}::text[]"))}) " +
                  $"AS k({string.Join(", ", columns.Select((_, i) => $"c{i}"))})";
        await using var cmd = new NpgsqlCommand(sql, source);
        for (var i = 0; i < columns.Count; i++)
            cmd.Parameters.Add(new NpgsqlParameter { Value = keys.Select(k => k[i]).ToArray() });
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    private static async Task<Dictionary<long, (long Rows, decimal Sum)>> SummaryAsync(NpgsqlConnection c, string sql, CancellationToken ct)
    {
        var buckets = new Dictionary<long, (long, decimal)>();
        await using var tx = await BeginAsync(c, ct);
        await using (var cmd = new NpgsqlCommand(sql, c, tx) { CommandTimeout = 0 })
        await using (var r = await cmd.ExecuteReaderAsync(ct))
            while (await r.ReadAsync(ct)) buckets[r.GetInt64(0)] = (r.GetInt64(1), r.GetDecimal(2));
        await tx.CommitAsync(ct);
        return buckets;
    }

    private static async Task<Dictionary<string, (string[] Key, long Hash, long Bucket)>> RowsAsync(NpgsqlConnection c, string sql,
        long[] buckets, CancellationToken ct)
    {
        var rows = new Dictionary<string, (string[], long, long)>(StringComparer.Ordinal);
        await using var tx = await BeginAsync(c, ct);
        await using (var cmd = new NpgsqlCommand(sql, c, tx) { CommandTimeout = 0 })
        {
            cmd.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = buckets });
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                var key = r.GetFieldValue<string[]>(0);
                rows[string.Join("\0", key)] = (key, r.GetInt64(1), r.GetInt64(2));
            }
        }
        await tx.CommitAsync(ct);
        return rows;
    }

    // Reading a whole large table takes as long as it takes: the queries have no command timeout. A dead link still
    // breaks the connection (keepalives and tcp_user_timeout, Postgres/Connect).

    /// <summary>A snapshot per pass, and the settings that make every database print a value alike.</summary>
    private static async Task<NpgsqlTransaction> BeginAsync(NpgsqlConnection c, CancellationToken ct)
    {
        var tx = await c.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        await using var set = new NpgsqlCommand(
            "SET LOCAL TimeZone = 'UTC'; SET LOCAL bytea_output = 'hex'; SET LOCAL DateStyle = 'ISO, YMD'; " +
            "SET LOCAL IntervalStyle = 'postgres'; SET LOCAL extra_float_digits = 3", c, tx);
        await set.ExecuteNonQueryAsync(ct);
        return tx;
    }
}
