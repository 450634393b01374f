using Ferry.Capture;
using Ferry.Install;
using Ferry.Postgres;

namespace Ferry.Read;

/// <summary>
/// The source-side SQL of one table, for one pair. The batch's bounds travel as transaction-local settings
/// (<c>ferry.read_from</c>, <c>ferry.read_to</c>, <c>ferry.read_skip</c>, <c>ferry.read_after</c>) set with bind
/// parameters, because COPY cannot take parameters and values are never spliced into SQL.
/// <para>
/// An entry belongs to the batch when its xid is invisible in the snapshot applied so far and visible in the
/// batch's snapshot: a transaction still running is invisible in both, so it comes in a later batch — no gap,
/// no duplicate, however long it runs. The xid index is bounded below by the old snapshot's xmin.
/// </para>
/// </summary>
public sealed class ReadSql
{
    public ReadSql(TableShape shape)
    {
        Shape = shape;
        var names = new CaptureNames(shape.Name);
        var table = Quote.Qualified(shape.Name);
        var keyMatch = string.Join(" AND ", shape.Key.Select(k => $"t.{Quote.Ident(k)} = r.{Quote.Ident(k)}"));
        var keyOrder = Quote.List(shape.Key, "r");
        Predicate = $"""
            r.ferry_xid >= pg_snapshot_xmin(current_setting('ferry.read_from')::pg_snapshot)
              AND NOT pg_visible_in_snapshot(r.ferry_xid, current_setting('ferry.read_from')::pg_snapshot)
              AND pg_visible_in_snapshot(r.ferry_xid, current_setting('ferry.read_to')::pg_snapshot)
              AND coalesce(r.ferry_origin, '') <> ALL (current_setting('ferry.read_skip')::text[])
            """;
        var afterKey = "(" + keyOrder + ") > (" + string.Join(", ", shape.KeyColumns.Select((k, n) =>
            $"(current_setting('ferry.read_after')::text[])[{n + 1}]::{k.Type}")) + ")";
        var columns = string.Join(", ", shape.Columns.Select(c => (c.IsKey ? "r." : "t.") + Quote.Ident(c.Name)));
        var firstKey = Quote.Ident(shape.Key[0]);
        var select = $"""
            SELECT {columns}, r.ferry_version, coalesce(r.ferry_origin, current_setting('ferry.read_source')),
                   r.ferry_based_on, t.{firstKey} IS NULL
            FROM {names.RowVersions} AS r LEFT JOIN {table} AS t ON {keyMatch}
            """;
        var format = shape.CanCopyBinary ? "(FORMAT binary)" : "(FORMAT text)";
        CopyOut = (limit, after) =>
            $"COPY ({select} WHERE {Predicate}{(after ? " AND " + afterKey : "")} ORDER BY {keyOrder} LIMIT {limit}) TO STDOUT {format}";
        Count = after =>
            $"SELECT count(*), extract(epoch FROM clock_timestamp() - min(r.ferry_version))::float8 " +
            $"FROM {names.RowVersions} AS r WHERE {Predicate}{(after ? " AND " + afterKey : "")}";
    }

    public TableShape Shape { get; }

    public string Predicate { get; }

    /// <summary>COPY of up to <c>limit</c> entries, in key order, after the cursor's key when <c>after</c> is set.</summary>
    public Func<int, bool, string> CopyOut { get; }

    /// <summary>How many entries the batch holds for this table, and the age of the oldest in seconds.</summary>
    public Func<bool, string> Count { get; }

    /// <summary>Truncates in the batch, for all tables: they travel as table-wide tombstones.</summary>
    public static string Truncates => """
        SELECT t.schema_name, t.table_name, t.version, coalesce(t.origin, current_setting('ferry.read_source'))
        FROM ferry.truncates AS t
        WHERE t.xid >= pg_snapshot_xmin(current_setting('ferry.read_from')::pg_snapshot)
          AND NOT pg_visible_in_snapshot(t.xid, current_setting('ferry.read_from')::pg_snapshot)
          AND pg_visible_in_snapshot(t.xid, current_setting('ferry.read_to')::pg_snapshot)
          AND coalesce(t.origin, '') <> ALL (current_setting('ferry.read_skip')::text[])
        """;
}
