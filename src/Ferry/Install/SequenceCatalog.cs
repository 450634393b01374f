using Npgsql;

namespace Ferry.Install;

/// <summary>A sequence's definition, as <c>pg_sequence</c> holds it: how it counts, not where it is.</summary>
public sealed record SequenceShape(TableName Name, long Increment, long Min, long Max, long Cache, bool Cycle)
{
    public string Direction => Increment > 0 ? "up" : "down";
}

/// <summary>
/// Reads sequences from a database's catalog. Names are looked up in <c>pg_class</c> by schema and name rather than
/// with <c>to_regclass</c>, which raises an error for a schema the role may not use: a missing grant is reported as
/// the GRANT that fixes it, not as a failed command.
/// </summary>
public static class SequenceCatalog
{
    /// <summary>What a name denotes in one database.</summary>
    public sealed record Lookup(SequenceShape? Shape, string? OtherKind, bool SchemaUsable)
    {
        public bool Missing => Shape is null && OtherKind is null;
    }

    public static async Task<Lookup> ReadAsync(NpgsqlConnection c, TableName sequence, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT cl.relkind::text, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
                   has_schema_privilege(n.oid, 'USAGE')
            FROM pg_class cl
            JOIN pg_namespace n ON n.oid = cl.relnamespace
            LEFT JOIN pg_sequence s ON s.seqrelid = cl.oid
            WHERE n.nspname = $1 AND cl.relname = $2
            """, c);
        cmd.Parameters.AddWithValue(sequence.Schema);
        cmd.Parameters.AddWithValue(sequence.Name);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return new Lookup(null, null, true);
        var usable = r.GetBoolean(6);
        return r.GetString(0) == "S"
            ? new Lookup(new SequenceShape(sequence, r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4), r.GetBoolean(5)), null, usable)
            : new Lookup(null, KindName(r.GetString(0)), usable);
    }

    /// <summary>
    /// Sequences outside the system schemas and ferry's own, with whether this role may read them: serial, identity
    /// and free-standing ones alike.
    /// </summary>
    public static async Task<List<(TableName Sequence, bool Readable)>> ListAsync(NpgsqlConnection c, string? schema, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT n.nspname::text, cl.relname::text,
                   has_schema_privilege(n.oid, 'USAGE') AND has_sequence_privilege(cl.oid, 'SELECT')
            FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace
            WHERE cl.relkind = 'S'
              AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'ferry') AND n.nspname NOT LIKE 'pg\_%'
              AND obj_description(n.oid, 'pg_namespace') IS DISTINCT FROM 'ferry control store'
              AND ($1::text IS NULL OR n.nspname = $1)
            ORDER BY 1, 2
            """, c);
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)schema ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        var found = new List<(TableName, bool)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) found.Add((new TableName(r.GetString(0), r.GetString(1)), r.GetBoolean(2)));
        return found;
    }

    private static string KindName(string relkind) => relkind switch
    {
        "r" or "p" => "a table",
        "v" => "a view",
        "m" => "a materialized view",
        "i" or "I" => "an index",
        "f" => "a foreign table",
        "c" => "a composite type",
        _ => "not a sequence",
    };
}
