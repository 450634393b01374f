using Ferry.Capture;
using Ferry.Install;
using Ferry.Postgres;

namespace Ferry.Apply;

/// <summary>
/// Conflicts on a unique key other than the primary key: two masters insert the same email under different ids.
/// The two rows are decided like any conflict — higher (version, dbgroup rank) wins — so every database reaches
/// the same verdict whatever order the rows arrive in. The losing row is either not applied (it is the incoming one)
/// or evicted with a tombstone one microsecond newer than its version, which then travels like any delete. Never
/// a sync stuck on <c>unique_violation</c>.
/// <para>Parameters of every statement: $1 dbgroup order (text[]), $2 this database's name.</para>
/// </summary>
public sealed class UniqueSql
{
    public UniqueSql(TableShape shape, UniqueKey unique, string temp, TempColumns f)
    {
        var table = Quote.Qualified(shape.Name);
        var rv = new CaptureNames(shape.Name).RowVersions;
        string Match(string a, string b, IEnumerable<string> cols) =>
            string.Join(" AND ", cols.Select(k => $"{a}.{Quote.Ident(k)} = {b}.{Quote.Ident(k)}"));
        var sameUnique = Match("t", "i", unique.Columns);
        var otherKey = "(" + Quote.List(shape.Key, "t") + ") IS DISTINCT FROM (" + Quote.List(shape.Key, "i") + ")";
        const string rank = "coalesce(array_position($1::text[], {0}), 2147483647)";
        var incomingBeats = $"(i.{f.Version} > coalesce(r.ferry_version, '-infinity') OR (i.{f.Version} = r.ferry_version " +
                            $"AND {string.Format(rank, $"i.{f.Origin}")} < {string.Format(rank, "coalesce(r.ferry_origin, $2)")}))";
        // Local rows this chunk replaces or deletes anyway are not in the way.
        var stays = $"NOT EXISTS (SELECT 1 FROM {temp} AS j WHERE {Match("j", "t", shape.Key)} AND j.{f.Win})";
        var collisions = $"""
            FROM {temp} AS i
            JOIN {table} AS t ON {sameUnique} AND {otherKey}
            LEFT JOIN {rv} AS r ON {Match("r", "t", shape.Key)}
            WHERE i.{f.Win} AND NOT i.{f.Deleted} AND {stays}
            """;

        // $3 sync, $4 schema, $5 table, $6 key columns, $7 rule text.
        Record = $"""
            INSERT INTO ferry.conflicts (sync_name, schema_name, table_name, key, local_origin, local_version, local_row,
                                         incoming_origin, incoming_version, incoming_row, winner, rule)
            SELECT $3, $4, $5,
                   (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(to_jsonb(i.*)) AS e WHERE e.key = ANY ($6::text[])),
                   coalesce(r.ferry_origin, $2), coalesce(r.ferry_version, '-infinity'), to_jsonb(t.*),
                   i.{f.Origin}, i.{f.Version}, to_jsonb(i.*) - {f.NamesArray},
                   CASE WHEN {incomingBeats} THEN i.{f.Origin} ELSE coalesce(r.ferry_origin, $2) END, $7
            {collisions}
            """;
        LoseIncoming = $"""
            UPDATE {temp} AS i SET {f.Win} = false
            FROM {table} AS t LEFT JOIN {rv} AS r ON {Match("r", "t", shape.Key)}
            WHERE {sameUnique} AND {otherKey} AND i.{f.Win} AND NOT i.{f.Deleted} AND {stays} AND NOT {incomingBeats}
            """;
        // What still collides now beats the local row: stamp its tombstone, then evict it.
        EvictLocal = $"""
            WITH evicted AS (
                SELECT DISTINCT {Quote.List(shape.Key, "t")}, coalesce(r.ferry_version, i.{f.Version}) AS ferry_v
                {collisions}
            ), stamped AS (
                INSERT INTO {rv} AS r ({Quote.List(shape.Key)}, ferry_version, ferry_origin, ferry_based_on, ferry_xid)
                SELECT {Quote.List(shape.Key, "e")}, e.ferry_v + interval '1 microsecond', NULL, NULL, pg_current_xact_id()
                FROM evicted AS e
                ON CONFLICT ({Quote.List(shape.Key)}) DO UPDATE SET ferry_version = excluded.ferry_version, ferry_origin = NULL,
                    ferry_based_on = NULL, ferry_xid = excluded.ferry_xid
                RETURNING 1
            )
            DELETE FROM {table} AS t USING evicted AS e WHERE {Match("t", "e", shape.Key)}
            """;
        // A value moving from one row to another within the chunk (a swap, or a chain of moves): each row's new
        // value is held by another row the chunk rewrites, so an upsert in any order meets a unique_violation, and a
        // non-deferrable constraint cannot wait for the statement's end. A row of the table (alias t) is in the way
        // when it is one the chunk rewrites and another of the chunk's rows takes its value: ApplySql.Vacate deletes
        // it and writes it again.
        InTheWay = $"""
            EXISTS (SELECT 1 FROM {temp} AS j
                    WHERE j.{f.Win} AND NOT j.{f.Deleted} AND {Match("j", "t", unique.Columns)}
                      AND ({Quote.List(shape.Key, "j")}) IS DISTINCT FROM ({Quote.List(shape.Key, "t")}))
            """;
        Name = unique.Name;
    }

    /// <summary>A condition on a row of the table (alias t) that the chunk rewrites: another of its rows takes its value.</summary>
    public string InTheWay { get; }

    public string Name { get; }

    public string Record { get; }

    public string LoseIncoming { get; }

    public string EvictLocal { get; }
}
