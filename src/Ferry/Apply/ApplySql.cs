using Ferry.Capture;
using Ferry.Install;
using Ferry.Postgres;
using Ferry.Resolve;

namespace Ferry.Apply;

/// <summary>
/// The target-side SQL of one table. Incoming entries land in a temporary table by COPY; then a handful of
/// set-based statements decide each entry against the target's own row version, record conflicts, delete, upsert
/// and stamp the new versions. Each statement's parameters are listed where it is built.
/// </summary>
public sealed class ApplySql
{
    /// <param name="shape">the table as the target has it, with the source's columns in the source's order
    /// (<see cref="TableShape.Carrying"/>): what the read sends, matched to the target's columns by name</param>
    public ApplySql(TableShape shape, int index, ConflictRule rule)
    {
        Shape = shape;
        Rule = rule;
        var f = Columns = new TempColumns(shape);
        var names = new CaptureNames(shape.Name);
        var rv = names.RowVersions;
        var table = Quote.Qualified(shape.Name);
        Temp = Quote.Qualified("pg_temp", "ferry_in_" + index);
        var columnNames = shape.Columns.Select(c => c.Name).ToList();
        var cols = Quote.List(columnNames);
        var fromTemp = Quote.List(columnNames, "i");
        var keys = Quote.List(shape.Key);
        string Match(string a, string b) => string.Join(" AND ", shape.Key.Select(k => $"{a}.{Quote.Ident(k)} = {b}.{Quote.Ident(k)}"));

        CreateTemp = $"""
            CREATE TEMP TABLE IF NOT EXISTS {Temp} (
                {string.Join(", ", shape.Columns.Select(c => Quote.Ident(c.Name) + " " + c.Type))},
                {f.Version} timestamptz, {f.Origin} text, {f.BasedOn} timestamptz, {f.Deleted} boolean,
                {f.LocalVersion} timestamptz, {f.LocalOrigin} text,
                {f.Conflict} boolean DEFAULT false, {f.RuleWin} boolean DEFAULT true, {f.Win} boolean DEFAULT true)
            """;
        CopyIn = $"COPY {Temp} ({cols}, {f.Incoming}) FROM STDIN " + (shape.CanCopyBinary ? "(FORMAT binary)" : "(FORMAT text)");
        // A plain target's bulk of new rows goes straight into the table (Relay/PairRunner says when).
        CopyDirect = shape.CanCopyBinary ? $"COPY {table} ({cols}) FROM STDIN (FORMAT binary)" : null;
        // A small chunk's rows arrive inside the apply batch instead: one text[] parameter per column, in the order
        // CopyIn takes them, each value cast back from its text form ($1 .. $n+4).
        var n = shape.Columns.Count;
        var casts = shape.Columns.Select((c, i) => $"u.c{i}::{c.Type}")
            .Concat([$"u.c{n}::timestamptz", $"u.c{n + 1}", $"u.c{n + 2}::timestamptz", $"u.c{n + 3}::boolean"]);
        InsertInline = $"INSERT INTO {Temp} ({cols}, {f.Incoming}) SELECT {string.Join(", ", casts)} " +
                       $"FROM unnest({string.Join(", ", Enumerable.Range(1, n + 4).Select(i => $"${i}::text[]"))}) " +
                       $"AS u({string.Join(", ", Enumerable.Range(0, n + 4).Select(i => $"c{i}"))})";

        // A conflict: the target's entry came from elsewhere and is not the version the incoming change was made
        // on top of. A follow-up edit (made after its author received the target's version) is not a conflict.
        // Written over the target's entry (lv, lo), so that the lookup and the decision are one pass over the
        // temporary table: each UPDATE of it rewrites every row, a tenth of a 100k-row chunk's apply.
        string Conflict(string lv, string lo) =>
            $"({lv} IS NOT NULL AND {lo} <> i.{f.Origin} AND {lv} IS DISTINCT FROM i.{f.BasedOn} AND {lv} <> i.{f.Version})";
        string Rank(string origin) => $"coalesce(array_position($1::text[], {origin}), 2147483647)";
        string Newer(string lv, string lo) =>
            $"({lv} IS NULL OR i.{f.Version} > {lv} OR (i.{f.Version} = {lv} AND {Rank($"i.{f.Origin}")} < {Rank(lo)}))";
        string RuleWins(string lv, string lo) => rule switch
        {
            ConflictRule.Latest => Newer(lv, lo),
            ConflictRule.Source => $"({Rank($"i.{f.Origin}")} < {Rank(lo)})",
            _ => "false",
        };
        // Rows older than the table's last truncate are dead everywhere, whichever arrives first.
        string TruncatedBefore(string schema, string name) => "coalesce((SELECT tr.version FROM ferry.truncates AS tr " +
                                                             $"WHERE tr.schema_name = {schema} AND tr.table_name = {name}), '-infinity')";
        const string lv = "r.ferry_version", lo = "coalesce(r.ferry_origin, $4)";
        var wins = $"CASE WHEN {Conflict(lv, lo)} THEN {RuleWins(lv, lo)} ELSE {Newer(lv, lo)} END";
        // $1 the dbgroup order (text[]), $2 schema, $3 table, $4 this database's name (what a local entry's NULL
        // origin means). Only the entries the target has an entry for: one it has never seen is no conflict and wins
        // unless a truncate killed it, what the temporary table's defaults say already, so such entries (all of a
        // bulk load) are not rewritten, except by Unborn.
        Decide = $"""
            UPDATE {Temp} AS i SET {f.LocalVersion} = {lv}, {f.LocalOrigin} = {lo}, {f.Conflict} = {Conflict(lv, lo)},
                {f.RuleWin} = {wins}, {f.Win} = {wins} AND i.{f.Version} > {TruncatedBefore("$2", "$3")}
            FROM {rv} AS r WHERE {Match("r", "i")}
            """;
        // $1 schema, $2 table: the entries new here that a truncate made after them killed.
        Unborn = $"UPDATE {Temp} AS i SET {f.Win} = false WHERE i.{f.LocalVersion} IS NULL AND i.{f.Version} <= {TruncatedBefore("$1", "$2")}";

        // $1 schema, $2 table, $3 sync, $4 key column names, $5 rule. The winner recorded is the rule's verdict, which
        // every database reaches alike; a later truncate may still remove both versions. Row images by column name,
        // each database's own row.
        RecordConflicts = $"""
            INSERT INTO ferry.conflicts (sync_name, schema_name, table_name, key, local_origin, local_version, local_row,
                                         incoming_origin, incoming_version, incoming_row, winner, rule)
            SELECT $3, $1, $2,
                   (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(to_jsonb(i.*)) AS e WHERE e.key = ANY ($4::text[])),
                   i.{f.LocalOrigin}, i.{f.LocalVersion},
                   CASE WHEN t.{Quote.Ident(shape.Key[0])} IS NULL THEN NULL ELSE to_jsonb(t.*) END,
                   i.{f.Origin}, i.{f.Version},
                   CASE WHEN i.{f.Deleted} THEN NULL ELSE to_jsonb(i.*) - {f.NamesArray} END,
                   CASE WHEN i.{f.RuleWin} THEN i.{f.Origin} ELSE i.{f.LocalOrigin} END, $5
            FROM {Temp} AS i LEFT JOIN {table} AS t ON {Match("t", "i")}
            WHERE i.{f.Conflict}
            """;
        // $1 schema, $2 table.
        AbortOnConflict = rule == ConflictRule.Abort
            ? $"""
              SELECT ferry.fail(format('conflict on %s key %s (conflict_strategy=abort): resolve it by hand, then ' ||
                                       'change the sync''s rule or kick it', $1 || '.' || $2, to_jsonb(i.*) - {f.NamesArray}))
              FROM {Temp} AS i WHERE i.{f.Conflict} LIMIT 1
              """
            : null;

        Truncate = new TruncateSql(shape, index, table, rv, names.Log, Match);

        Delete = $"DELETE FROM {table} AS t USING {Temp} AS i WHERE {Match("t", "i")} AND i.{f.Win} AND i.{f.Deleted}";

        // Only the columns the source sends: a column the target has beyond them keeps its value, or on insert its
        // default.
        var values = shape.ValueColumns.ToList();
        var onConflict = values.Count == 0
            ? "DO NOTHING"
            : "DO UPDATE SET " + string.Join(", ", values.Select(c => $"{Quote.Ident(c.Name)} = excluded.{Quote.Ident(c.Name)}"));
        var insert = $"INSERT INTO {table} AS t ({cols}){(shape.HasIdentityAlways ? " OVERRIDING SYSTEM VALUE" : "")}";
        Upsert = $"""
            {insert}
            SELECT {fromTemp} FROM {Temp} AS i WHERE i.{f.Win} AND NOT i.{f.Deleted} AND i.{f.LocalVersion} IS NOT NULL
            ON CONFLICT ({keys}) {onConflict}
            """;
        // Keys without an entry here are almost always new rows: a plain INSERT writes them at half the cost of
        // ON CONFLICT's speculative insertion. Rows that predate ferry's capture have no entry either; if one is in
        // the way, the insert is undone and the keys upserted instead. A DO block, so the fallback costs no round trip.
        // Its column names are the table's, not PL/pgSQL variables (FOUND), whatever they are called.
        var newRows = $"SELECT {fromTemp} FROM {Temp} AS i WHERE i.{f.Win} AND NOT i.{f.Deleted} AND i.{f.LocalVersion} IS NULL";
        UpsertNew = "DO " + Quote.Literal($"""
            #variable_conflict use_column
            BEGIN
                {insert} {newRows};
            EXCEPTION WHEN unique_violation THEN
                {insert} {newRows} ON CONFLICT ({keys}) {onConflict};
            END
            """);

        // Compare-and-set: an entry is stamped only if it still holds the version the decision was made on. An
        // application write that committed in between (its trigger bumps the entry) makes the incoming change lose
        // here, so the row and its entry never disagree. The UPDATE re-checks its WHERE on the latest row version
        // after waiting for a lock (READ COMMITTED's EvalPlanQual); applies to one database are serialised anyway.
        StampVersions = $"""
            WITH updated AS (
                UPDATE {rv} AS r SET ferry_version = i.{f.Version}, ferry_origin = i.{f.Origin},
                    ferry_based_on = i.{f.BasedOn}, ferry_xid = pg_current_xact_id()
                FROM {Temp} AS i
                WHERE {Match("r", "i")} AND i.{f.Win} AND i.{f.LocalVersion} IS NOT NULL AND r.ferry_version = i.{f.LocalVersion}
                RETURNING {Quote.List(shape.Key, "r")}
            )
            UPDATE {Temp} AS i SET {f.Win} = false
            WHERE i.{f.Win} AND i.{f.LocalVersion} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM updated AS s WHERE {Match("s", "i")})
            """;
        // Keys new to this database: a plain INSERT, the cheapest way to write most of a bulk load. An application
        // inserting the same new key at this very moment makes it fail with unique_violation; the chunk is then
        // rolled back and retried, and decided against that entry.
        StampNew = $"""
            INSERT INTO {rv} ({keys}, ferry_version, ferry_origin, ferry_based_on, ferry_xid)
            SELECT {Quote.List(shape.Key, "i")}, i.{f.Version}, i.{f.Origin}, i.{f.BasedOn}, pg_current_xact_id()
            FROM {Temp} AS i WHERE i.{f.Win} AND i.{f.LocalVersion} IS NULL
            """;


        // $1 the table's name. A local change that committed after the apply folded the log, to a key this chunk
        // wrote, was decided against nothing: its write waited for the row (or the row waited for it), so it has
        // committed by now, and the chunk is retried to decide it.
        RaceCheck = $"""
            SELECT ferry.retry(format('an application changed a row of %s that ferry was applying a change to; retrying', $1))
            FROM {names.Log} AS l WHERE EXISTS (SELECT 1 FROM {Temp} AS i WHERE {Match("i", "l")} AND i.{f.Win}) LIMIT 1
            """;

        LastKey = $"(SELECT ARRAY[{string.Join(", ", shape.Key.Select(k => "i." + Quote.Ident(k) + "::text"))}] FROM {Temp} AS i " +
                  $"ORDER BY {string.Join(", ", shape.Key.Select(k => "i." + Quote.Ident(k) + " DESC"))} LIMIT 1)";
        Clear = $"TRUNCATE {Temp}";
        HasRow = $"SELECT EXISTS (SELECT FROM {table} AS t WHERE " +
                 string.Join(" AND ", shape.KeyColumns.Select((k, n) => $"t.{Quote.Ident(k.Name)} = ($1::text[])[{n + 1}]::{k.Type}")) + ")";
        Uniques = shape.UniqueKeys.Select(u => new UniqueSql(shape, u, Temp, f)).ToList();
        // The rows in the way of a unique value moving within the chunk (UniqueSql.InTheWay) are deleted, and every
        // row of the chunk written, in one statement: the scalar subquery makes the DELETE run to its end before the
        // first row is written, a row deleted by the same statement no longer holds its key or value, and a
        // NO ACTION foreign key is checked at the statement's end, when the rows its children point at are back.
        // Where some foreign key's ON DELETE acts at once (CASCADE, SET NULL, SET DEFAULT, RESTRICT), children
        // would be changed or the delete refused: there a move stops the pair, with the constraint named. Only a
        // chunk with a row in the way writes here; the upserts after it then find its rows written already.
        Vacate = Uniques.Count == 0 || shape.DeleteActsOnReferences
            ? null
            : $"""
              WITH vacated AS (
                  DELETE FROM {table} AS t USING {Temp} AS i
                  WHERE {Match("t", "i")} AND i.{f.Win} AND NOT i.{f.Deleted}
                    AND ({string.Join(" OR ", Uniques.Select(u => u.InTheWay))})
                  RETURNING 1
              )
              {insert}
              SELECT {fromTemp} FROM {Temp} AS i WHERE i.{f.Win} AND NOT i.{f.Deleted} AND (SELECT count(*) FROM vacated) > 0
              ON CONFLICT ({keys}) {onConflict}
              """;
    }

    /// <summary>Ferry's own columns of the temporary table, named clear of the table's.</summary>
    public TempColumns Columns { get; }

    public TableShape Shape { get; }

    /// <summary>The table's conflict rule: its own, or its sync's.</summary>
    public ConflictRule Rule { get; }

    public string Temp { get; }

    public string RaceCheck { get; }

    public string CreateTemp { get; }

    public string CopyIn { get; }

    /// <summary>COPY of rows into the table itself; null where the table travels as text.</summary>
    public string? CopyDirect { get; }

    public string InsertInline { get; }

    /// <summary>Looks up the target's entry of each incoming one and decides it (the entries the target has one for).</summary>
    public string Decide { get; }

    /// <summary>Decides the entries the target has none for: only a truncate can make them lose.</summary>
    public string Unborn { get; }

    public string RecordConflicts { get; }

    public string? AbortOnConflict { get; }

    /// <summary>A peer's truncate applied here, and its race check.</summary>
    public TruncateSql Truncate { get; }

    public string Delete { get; }

    public string Upsert { get; }

    /// <summary>The upsert of the keys new to this database: a DO block, without parameters.</summary>
    public string UpsertNew { get; }

    public string StampVersions { get; }

    public string StampNew { get; }

    /// <summary>A scalar subquery: the highest key in the temporary table, as text[], for the chunk cursor.</summary>
    public string LastKey { get; }

    public string Clear { get; }

    /// <summary>Whether the table holds the row of a key given as text[] ($1).</summary>
    public string HasRow { get; }

    public IReadOnlyList<UniqueSql> Uniques { get; }

    /// <summary>Clears the way for unique values moving between the chunk's rows; null where it cannot be done.</summary>
    public string? Vacate { get; }

    /// <summary>Foreign keys from this table to others in the herd, with the index of the parent's ApplySql.</summary>
    public List<(ForeignKeySql Sql, int Parent)> ForeignKeys { get; } = [];
}
