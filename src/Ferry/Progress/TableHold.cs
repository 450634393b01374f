using Npgsql;

namespace Ferry.Progress;

/// <summary>Why a table is held on a pair, which decides when it is tried again.</summary>
public enum HoldKind
{
    /// <summary>The two ends' columns disagree: lifted as soon as they agree (the relay compares them every batch).</summary>
    Schema,

    /// <summary>Its apply failed on the target (a constraint, a grant, a trigger): tried again now and then, and on a kick.</summary>
    Error,
}

/// <summary>
/// A table held on a pair, as the target's <c>ferry.held_tables</c> keeps it: its entries after <see cref="HeldFrom"/>
/// (a source snapshot) wait there while the pair's position moves on without them. <see cref="ResumeTo"/> and
/// <see cref="ResumeAfterKey"/> are the cursor of a catch-up cut into chunks.
/// </summary>
public sealed record TableHold(TableName Table, string HeldFrom, HoldKind Kind, string Cause, string Fix, DateTimeOffset Since,
    DateTimeOffset TriedAt, string? ResumeTo, string[]? ResumeAfterKey)
{
    public static async Task<List<TableHold>> LoadAsync(NpgsqlConnection target, Pair pair, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT schema_name, table_name, held_from::text, kind, cause, fix, since, tried_at, resume_to::text, resume_after_key
            FROM ferry.held_tables WHERE sync_name = $1 AND source_name = $2
            """, target);
        cmd.Parameters.AddWithValue(pair.Sync);
        cmd.Parameters.AddWithValue(pair.Source);
        var holds = new List<TableHold>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            holds.Add(new TableHold(new TableName(r.GetString(0), r.GetString(1)), r.GetString(2),
                r.GetString(3) == "schema" ? HoldKind.Schema : HoldKind.Error, r.GetString(4), r.GetString(5),
                r.GetFieldValue<DateTimeOffset>(6), r.GetFieldValue<DateTimeOffset>(7),
                r.IsDBNull(8) ? null : r.GetString(8), r.IsDBNull(9) ? null : r.GetFieldValue<string[]>(9)));
        return holds;
    }

    /// <summary>
    /// Holds a table, or says again why it is held. An existing hold keeps its <c>held_from</c> and <c>since</c>:
    /// the earliest snapshot is the one whose entries still wait. $1 sync, $2 source, $3 schema, $4 table,
    /// $5 held_from, $6 kind, $7 cause, $8 fix.
    /// </summary>
    public const string HoldSql = """
        INSERT INTO ferry.held_tables AS h (sync_name, source_name, schema_name, table_name, held_from, kind, cause, fix)
        VALUES ($1, $2, $3, $4, $5::pg_snapshot, $6, $7, $8)
        ON CONFLICT (sync_name, source_name, schema_name, table_name) DO UPDATE
            SET kind = excluded.kind, cause = excluded.cause, fix = excluded.fix, tried_at = excluded.tried_at
        RETURNING held_from::text, since, tried_at, resume_to::text, resume_after_key
        """;

    /// <summary>The last chunk of a catch-up: the table flows with the pair again. $1 sync, $2 source, $3 schema, $4 table.</summary>
    public const string LiftSql = """
        DELETE FROM ferry.held_tables WHERE sync_name = $1 AND source_name = $2 AND schema_name = $3 AND table_name = $4
        """;

    /// <summary>
    /// A chunk of a catch-up that cut the table mid-way: where the next one resumes. $1 sync, $2 source, $3 schema,
    /// $4 table, $5 the snapshot the catch-up reads up to; the key comes from <paramref name="afterKeySql"/>.
    /// </summary>
    public static string ResumeSql(string afterKeySql) => $"""
        UPDATE ferry.held_tables SET resume_to = $5::pg_snapshot, resume_after_key = {afterKeySql}
        WHERE sync_name = $1 AND source_name = $2 AND schema_name = $3 AND table_name = $4
        """;

    public static string KindText(HoldKind kind) => kind == HoldKind.Schema ? "schema" : "error";
}
