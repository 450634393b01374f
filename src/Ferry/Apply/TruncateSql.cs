using Ferry.Install;
using Ferry.Postgres;

namespace Ferry.Apply;

/// <summary>
/// A peer's TRUNCATE applied to one table of the target: its record in <c>ferry.truncates</c>, the DELETE of the rows
/// with no newer version, and, where the target keeps versions, the check that no local write committed meanwhile to a
/// row that DELETE removed. Each statement's parameters are listed where it is built.
/// </summary>
public sealed class TruncateSql
{
    /// <param name="match">the key equality of two aliases, as <see cref="ApplySql"/> writes it</param>
    public TruncateSql(TableShape shape, int index, string table, string rv, string log, Func<string, string, string> match)
    {
        var keys = Quote.List(shape.Key);
        // $1 the truncate's version: rows with no newer entry die, rows written after it survive.
        var truncateDelete = $"""
            DELETE FROM {table} AS t
            WHERE NOT EXISTS (SELECT 1 FROM {rv} AS r WHERE {match("r", "t")} AND r.ferry_version > $1::timestamptz)
            """;
        DeleteAll = truncateDelete;
        // Where versions are kept, the truncate notes for RaceCheck the keys it deleted whose row may have been
        // written by a transaction that committed after the apply's fold: one whose xid is at least the xmin noted
        // before the fold (NoteSince), in a temporary table that lives until the commit (nothing to clear,
        // none on rollback). Only those: noting every deleted key doubled the DELETE's time (200k rows). So the rows
        // last written before that xmin go first, unnoted; a row written meanwhile, while this DELETE waits for it,
        // is rechecked in its new version (READ COMMITTED), whose xmin is recent, and left for the second, which notes
        // what it deletes.
        NotedKeys = Quote.Qualified("pg_temp", "ferry_truncated_" + index);
        // The bound as a subquery, evaluated once: per row, reading the setting cost the DELETE a quarter of its time.
        DeleteSettled = $"{truncateDelete} AND age(t.xmin) > (SELECT age({TruncatedSince}::xid))";
        CreateNoted = $"CREATE TEMP TABLE IF NOT EXISTS {NotedKeys} " +
                      $"({string.Join(", ", shape.KeyColumns.Select(c => Quote.Ident(c.Name) + " " + c.Type))}) ON COMMIT DROP";
        DeleteNoting = $"WITH deleted AS ({truncateDelete} RETURNING {Quote.List(shape.Key, "t")}) " +
                       $"INSERT INTO {NotedKeys} ({keys}) SELECT {keys} FROM deleted";

        // $1 the table's name, $2 the truncate's version. A local write that committed after the apply folded the log,
        // to a row the truncate then deleted (its DELETE waited for the row, or began after the write), was deleted
        // without its version being looked at: folded later, that version would go out as the row's absence. Retried,
        // the fold takes the write in first, and the DELETE spares the row if the write is newer than the truncate.
        // The write is either still in the log, or a concurrent fold (a read's, in its own transaction) has moved it
        // into a row version since the apply began (NoteSince): one statement sees one or the other. Writes
        // the DELETEs did not meet (a key inserted after the second began, a row deleted first) need no retry: the
        // row and its later version agree. Usually the log is empty and no other transaction has written a row
        // version since: each first EXISTS, evaluated first, then keeps its join from reading the noted keys at all.
        const string others = "r.ferry_xid <> pg_current_xact_id()";
        RaceCheck = $"""
            SELECT ferry.retry(format('an application changed a row of %s while ferry applied a truncate of it; retrying', $1))
            WHERE (EXISTS (SELECT 1 FROM {log} AS l)
                   AND EXISTS (SELECT 1 FROM {log} AS l JOIN {NotedKeys} AS d ON {match("d", "l")}))
               OR (EXISTS (SELECT 1 FROM {rv} AS r WHERE r.ferry_xid >= {TruncatedSince} AND {others})
                   AND EXISTS (SELECT 1 FROM {rv} AS r JOIN {NotedKeys} AS d ON {match("d", "r")}
                               WHERE r.ferry_xid >= {TruncatedSince} AND {others} AND r.ferry_version > $2::timestamptz))
            """;

        // $1 schema, $2 table, $3 version, $4 origin.
        Record = """
            INSERT INTO ferry.truncates AS t (schema_name, table_name, version, origin, xid)
            VALUES ($1, $2, $3, $4, pg_current_xact_id())
            ON CONFLICT (schema_name, table_name) DO UPDATE
                SET version = excluded.version, origin = excluded.origin, xid = excluded.xid
                WHERE excluded.version > t.version
            """;
    }

    public string Record { get; }

    /// <summary>The truncate's DELETE, on a plain target: nothing local to race with there.</summary>
    public string DeleteAll { get; }

    /// <summary>The temporary table of the keys a truncate deleted in this transaction.</summary>
    public string NotedKeys { get; }

    /// <summary>Creates <see cref="NotedKeys"/>, dropped at the commit; before <see cref="DeleteNoting"/>.</summary>
    public string CreateNoted { get; }

    /// <summary>
    /// Notes, before the apply's fold, the oldest transaction still running (a custom setting of this transaction):
    /// a write that commits after the fold has an xid at least that, and so has the row version it made.
    /// </summary>
    public const string NoteSince =
        "SELECT set_config('ferry.truncated_since', pg_snapshot_xmin(pg_current_snapshot())::text, true)";

    private const string TruncatedSince = "current_setting('ferry.truncated_since')::xid8";

    /// <summary>The truncate's DELETE of the rows last written before <see cref="NoteSince"/>.</summary>
    public string DeleteSettled { get; }

    /// <summary>The truncate's DELETE of the rest, noting the keys it deleted in <see cref="NotedKeys"/>.</summary>
    public string DeleteNoting { get; }

    /// <summary>Retries the chunk if a local write to a row the truncate deleted committed after the fold.</summary>
    public string RaceCheck { get; }
}
