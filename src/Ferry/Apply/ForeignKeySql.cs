using Ferry.Capture;
using Ferry.Install;
using Ferry.Postgres;

namespace Ferry.Apply;

/// <summary>
/// The foreign-key race: a parent deleted on one master while a child is inserted under it on another. Without
/// superuser the constraint fires on every target, so ferry settles it the same way everywhere: the delete wins,
/// the orphaned child is removed and leaves a tombstone that travels like any delete, and each removal is recorded
/// as a conflict. Never a sync stuck on a foreign-key error.
/// </summary>
public sealed class ForeignKeySql
{
    /// <param name="child">The child's apply SQL; <paramref name="parent"/> the parent's, when the parent is in the herd.</param>
    public ForeignKeySql(ForeignKey fk, ApplySql child, ApplySql? parent)
    {
        var childTemp = child.Temp;
        var f = child.Columns;
        var childTable = Quote.Qualified(child.Shape.Name);
        var key = child.Shape.Key;
        var parentTable = Quote.Qualified(fk.Parent);
        var rv = new CaptureNames(child.Shape.Name).RowVersions;
        var keys = Quote.List(key);
        string KeyMatch(string a, string b) => string.Join(" AND ", key.Select(k => $"{a}.{Quote.Ident(k)} = {b}.{Quote.Ident(k)}"));
        var refMatch = string.Join(" AND ", fk.ChildColumns.Zip(fk.ParentColumns, (c, p) => $"p.{Quote.Ident(p)} = i.{Quote.Ident(c)}"));
        var notNull = string.Join(" AND ", fk.ChildColumns.Select(c => $"i.{Quote.Ident(c)} IS NOT NULL"));
        var rule = $"foreign key {fk.Name}";
        // An evicted child's entry becomes a local tombstone, so the removal travels like any delete.
        var tombstone = $"ON CONFLICT ({keys}) DO UPDATE SET ferry_version = excluded.ferry_version, ferry_origin = NULL, " +
                        "ferry_based_on = NULL, ferry_xid = excluded.ferry_xid";

        // $1 sync, $2 schema, $3 table, $4 key columns, $5 rule text, $6 this database's name. Runs after the
        // parents' upserts, before the child's: an incoming child whose parent is gone here is not applied, any old
        // version of it is removed, and its tombstone tells the other databases.
        DropOrphans = $"""
            WITH orphans AS (
                UPDATE {childTemp} AS i SET {f.Win} = false
                WHERE i.{f.Win} AND NOT i.{f.Deleted} AND {notNull}
                  AND NOT EXISTS (SELECT 1 FROM {parentTable} AS p WHERE {refMatch})
                RETURNING i.*
            ), removed AS (
                DELETE FROM {childTable} AS t USING orphans AS o WHERE {KeyMatch("t", "o")}
                RETURNING 1
            ), stamped AS (
                INSERT INTO {rv} AS r ({keys}, ferry_version, ferry_origin, ferry_based_on, ferry_xid)
                SELECT {Quote.List(key, "o")}, o.{f.Version} + interval '1 microsecond', NULL, NULL, pg_current_xact_id()
                FROM orphans AS o
                {tombstone}
                RETURNING 1
            )
            {RecordConflict}
            SELECT $1, $2, $3,
                   (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(to_jsonb(o.*)) AS e WHERE e.key = ANY ($4::text[])),
                   $6, '-infinity', NULL, o.{f.Origin}, o.{f.Version}, to_jsonb(o.*) - {f.NamesArray}, 'delete', $5
            FROM orphans AS o
            """;
        RuleText = rule + ": parent missing";

        if (parent is null || !fk.Restricts) return;
        var pf = parent.Columns;
        var parentMatch = string.Join(" AND ", fk.ChildColumns.Zip(fk.ParentColumns, (c, p) => $"t.{Quote.Ident(c)} = p.{Quote.Ident(p)}"));
        // Same parameters. Runs before the deletes: local children of a parent this chunk deletes are removed with
        // a tombstone newer than their own version — unless this chunk moves them to another parent.
        EvictChildren = $"""
            WITH gone AS (
                DELETE FROM {childTable} AS t USING {parent.Temp} AS p
                WHERE {parentMatch} AND p.{pf.Win} AND p.{pf.Deleted}
                  AND NOT EXISTS (SELECT 1 FROM {childTemp} AS j WHERE {KeyMatch("j", "t")} AND j.{f.Win} AND NOT j.{f.Deleted})
                RETURNING t.*
            ), stamped AS (
                INSERT INTO {rv} AS r ({keys}, ferry_version, ferry_origin, ferry_based_on, ferry_xid)
                SELECT {Quote.List(key, "g")},
                       greatest(clock_timestamp(), (SELECT x.ferry_version + interval '1 microsecond' FROM {rv} AS x
                                                    WHERE {KeyMatch("x", "g")})),
                       NULL, NULL, pg_current_xact_id()
                FROM gone AS g
                {tombstone}
                RETURNING 1
            )
            {RecordConflict}
            SELECT $1, $2, $3,
                   (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(to_jsonb(g.*)) AS e WHERE e.key = ANY ($4::text[])),
                   $6, '-infinity', to_jsonb(g.*), $6, '-infinity', NULL, 'delete', $5
            FROM gone AS g
            """;
        EvictRuleText = rule + ": parent deleted";
    }

    private const string RecordConflict =
        "INSERT INTO ferry.conflicts (sync_name, schema_name, table_name, key, local_origin, local_version, local_row, " +
        "incoming_origin, incoming_version, incoming_row, winner, rule)";

    public string DropOrphans { get; }

    public string RuleText { get; }

    public string? EvictChildren { get; }

    public string? EvictRuleText { get; }
}
