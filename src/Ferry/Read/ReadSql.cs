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
        // Each setting is read and cast in a scalar subquery, so PostgreSQL evaluates it once per statement (an
        // InitPlan) instead of parsing two snapshots and an array again for every entry it filters: each chunk of a
        // large batch still filters the batch's remaining entries, and this keeps that scan cheap per entry.
        Predicate = $"""
            r.ferry_xid >= (SELECT pg_snapshot_xmin(current_setting('ferry.read_from')::pg_snapshot))
              AND NOT pg_visible_in_snapshot(r.ferry_xid, (SELECT current_setting('ferry.read_from')::pg_snapshot))
              AND pg_visible_in_snapshot(r.ferry_xid, (SELECT current_setting('ferry.read_to')::pg_snapshot))
              AND coalesce(r.ferry_origin, '') <> ALL ((SELECT current_setting('ferry.read_skip')::text[])::text[])
            """;
        var afterKey = "(" + keyOrder + ") > (" + string.Join(", ", shape.KeyColumns.Select((k, n) =>
            $"(SELECT (current_setting('ferry.read_after')::text[])[{n + 1}]::{k.Type})")) + ")";
        // A key comes from the entry (a delete has no row), cast back from ferry's wider type to the table's: binary
        // COPY carries the type's own format, and the target's column has the table's type.
        var columns = string.Join(", ", shape.Columns.Select(c =>
            c.IsKey ? $"r.{Quote.Ident(c.Name)}::{c.Type}" : "t." + Quote.Ident(c.Name)));
        var firstKey = Quote.Ident(shape.Key[0]);
        var format = shape.CanCopyBinary ? "(FORMAT binary)" : "(FORMAT text)";
        // The chunk's entries are picked first, and only they are looked up in the table, one index probe each
        // (OFFSET 0 keeps the lateral subquery from being flattened into a join the planner may hash). The filter
        // on xids defeats the planner's row estimates: joined first, it hashed the whole table for every chunk of a
        // large batch.
        // A slice that takes all its table has left skips the sort and the limit: reading a 100k-entry batch whole
        // costs about a fifth of reading it in key-ordered pieces.
        // A slice that holds a good part of its table (hash) is joined the planner's way instead: hashing the entries
        // and scanning the table once beats one index probe per entry by a third.
        CopyOut = (limit, after, whole, hash) => $"""
            COPY (SELECT {columns}, r.ferry_version, coalesce(r.ferry_origin, current_setting('ferry.read_source')),
                         r.ferry_based_on, t.{firstKey} IS NULL
                  FROM (SELECT * FROM {names.RowVersions} AS r WHERE {Predicate}{(after ? " AND " + afterKey : "")}
                        {(whole ? "OFFSET 0" : $"ORDER BY {keyOrder} LIMIT {limit}")}) AS r
                  {(hash && whole ? $"LEFT JOIN {table} AS t ON {keyMatch}" : $"LEFT JOIN LATERAL (SELECT * FROM {table} AS t WHERE {keyMatch} OFFSET 0) AS t ON true")}
                  {(whole ? "" : $"ORDER BY {keyOrder}")}) TO STDOUT {format}
            """;
        // The rows of the same entries alone, for a plain target's COPY straight into its table: deleted entries
        // have no row and drop out of the join, which the caller sees as fewer rows than entries.
        CopyRows = (after, hash) => $"""
            COPY (SELECT {columns}
                  FROM (SELECT * FROM {names.RowVersions} AS r WHERE {Predicate}{(after ? " AND " + afterKey : "")} OFFSET 0) AS r
                  {(hash ? $"JOIN {table} AS t ON {keyMatch}" : $"JOIN LATERAL (SELECT * FROM {table} AS t WHERE {keyMatch} OFFSET 0) AS t ON true")}
                  ) TO STDOUT {format}
            """;
        // The same entries as CopyOut, as rows of text, in a plain query: it can ride in the read's first pipelined
        // batch, so a small chunk needs no COPY (two round trips fewer on each link). At most $1 entries, and only
        // while their rows add up to $2 bytes: what rides along stays small whatever the rows hold.
        var texts = shape.Columns.Select(c => (c.IsKey ? "r." : "t.") + Quote.Ident(c.Name) + "::text")
            .Concat(["r.ferry_version::text", "coalesce(r.ferry_origin, current_setting('ferry.read_source'))",
                     "r.ferry_based_on::text", $"(t.{firstKey} IS NULL)::text"])
            .Select((e, i) => $"{e} AS c{i}").ToList();
        // The upper bound on xids is implied by the predicate, but only with it does the planner see a range and
        // pick the xid index: with ORDER BY key LIMIT it otherwise walks the key index over every entry the table
        // ever had, looking for the batch's few (17 ms per table per poll at 100,000 entries, against 0.1 ms).
        var bounded = $"{Predicate} AND r.ferry_xid < (SELECT pg_snapshot_xmax(current_setting('ferry.read_to')::pg_snapshot))";
        // With $3, the rows ride along only if all the table's entries in the batch fit in $1: a chunk that takes
        // more goes by COPY, and reading its first entries as text as well (the most costly read per row) would
        // be wasted. The count stops at $1 + 1 and runs once, before the scan (an InitPlan of the one-time filter).
        string Slice(bool after) => bounded + (after ? " AND " + afterKey : "");
        Inline = after => $"""
            SELECT {string.Join(", ", texts.Select((_, i) => $"c{i}"))}
            FROM (SELECT {string.Join(", ", texts)}, row_number() OVER w AS ferry_n,
                         sum(coalesce(pg_column_size(t.*), 0) + 64) OVER w AS ferry_bytes
                  FROM (SELECT * FROM {names.RowVersions} AS r
                        WHERE {Slice(after)}
                          AND (NOT $3 OR (SELECT count(*) FROM (SELECT FROM {names.RowVersions} AS r WHERE {Slice(after)} LIMIT $1 + 1) AS n) <= $1)
                        ORDER BY {keyOrder} LIMIT $1) AS r
                  LEFT JOIN LATERAL (SELECT * FROM {table} AS t WHERE {keyMatch} OFFSET 0) AS t ON true
                  WINDOW w AS (ORDER BY {keyOrder} ROWS UNBOUNDED PRECEDING)) AS x
            WHERE ferry_bytes <= $2
            ORDER BY ferry_n
            """;
        // The table's size (the planner's estimate, or its pages at a guessed 100 bytes a row before its first
        // ANALYZE) tells whether a whole slice is a good part of it.
        Count = after =>
            $"SELECT count(*), extract(epoch FROM clock_timestamp() - min(r.ferry_version))::float8, " +
            $"(SELECT CASE WHEN c.reltuples >= 0 THEN c.reltuples::float8 ELSE pg_relation_size(c.oid) / 100.0 END " +
            $"FROM pg_class AS c WHERE c.oid = {Quote.Literal(table)}::regclass), " +
            // The key of the latest entry (the xid index read backwards), as text: a plain target is asked whether it
            // has that row before the slice is copied straight into its table (an update or a delete there would only
            // be refused, after a whole COPY). The latest, because a fold gives logged changes (updates, deletes) a
            // later xid than a bulk INSERT's own entries: a batch mixing both is sampled at a change.
            $"(SELECT ARRAY[{string.Join(", ", shape.Key.Select(k => $"r.{Quote.Ident(k)}::text"))}] FROM {names.RowVersions} AS r " +
            $"WHERE {Slice(after)} ORDER BY r.ferry_xid DESC LIMIT 1) " +
            $"FROM {names.RowVersions} AS r WHERE {Predicate}{(after ? " AND " + afterKey : "")}";
    }

    public TableShape Shape { get; }

    public string Predicate { get; }

    /// <summary>COPY of up to <c>limit</c> entries, in key order, after the cursor's key when <c>after</c> is set.</summary>
    public Func<int, bool, bool, bool, string> CopyOut { get; }

    /// <summary>
    /// COPY of the rows of all the table's remaining entries in the batch (a whole slice), the table's columns only;
    /// <c>after</c> and <c>hash</c> as for <see cref="CopyOut"/>.
    /// </summary>
    public Func<bool, bool, string> CopyRows { get; }

    /// <summary>
    /// The first entries CopyOut would give (at most $1, about $2 bytes), each value as text (the apply side casts them
    /// back); with $3, none unless the batch holds at most $1 entries of the table.
    /// </summary>
    public Func<bool, string> Inline { get; }

    /// <summary>
    /// How many entries the batch holds for this table, the age of the oldest in seconds, the table's size in rows,
    /// and the key of its latest entry as text[] (null if none).
    /// </summary>
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
