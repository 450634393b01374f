using Npgsql;

namespace Ferry.Relay;

/// <summary>
/// Reads back the conflicts a chunk just recorded on its target, for the relay's recent list: one query, asked only
/// after a chunk that recorded some, on the pair's own target connection, so a page load queries no database.
/// </summary>
public static class RecentConflictReader
{
    /// <summary>
    /// $1 sync, $2 the origins the pair does not carry (another pair into the same target records those), $3 how many.
    /// Newest first, through the primary key.
    /// </summary>
    private const string Sql = """
        SELECT c.id, c.decided_at, format('%I.%I', c.schema_name, c.table_name), c.key::text, c.winner, c.rule
        FROM ferry.conflicts AS c
        WHERE c.sync_name = $1 AND c.incoming_origin <> ALL ($2::text[])
        ORDER BY c.id DESC
        LIMIT $3
        """;

    public static async Task<List<RecentConflict>> ReadAsync(NpgsqlConnection target, Pair pair, string[] skipOrigins,
        long count, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(Sql, target);
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = pair.Sync });
        cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = skipOrigins });
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = Math.Min(count, RelayStatus.RecentKept) });
        var list = new List<RecentConflict>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            list.Add(new RecentConflict(r.GetFieldValue<DateTimeOffset>(1), pair.Sync, pair.Source, pair.Target, r.GetString(2),
                r.GetString(3), r.GetString(4), r.GetString(5), r.GetInt64(0)));
        return list;
    }
}
