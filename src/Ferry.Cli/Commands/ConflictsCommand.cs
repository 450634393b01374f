using System.Globalization;
using System.Text.Json;
using Ferry.ControlStore;
using Ferry.Postgres;
using Npgsql;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry conflicts [SYNC] [--since T] [--json]`: every conflict recorded on every database of the syncs, where it
/// was decided — table, key, both versions with their origins, the winner and the rule.
/// </summary>
public static class ConflictsCommand
{
    public sealed record ConflictRow(string Database, DateTime DecidedAt, string Sync, string Table, string Key,
        string LocalOrigin, DateTime LocalVersion, string? LocalRow, string IncomingOrigin, DateTime IncomingVersion,
        string? IncomingRow, string Winner, string Rule);

    public static async Task<int> RunAsync(BucardoArguments args, CancellationToken ct)
    {
        var sinceText = args.Get("since");
        var json = args.Get("json") is not null;
        args.RejectUnknown("conflicts");
        DateTimeOffset? since = null;
        if (sinceText is not null)
        {
            if (!DateTimeOffset.TryParse(sinceText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var s))
                throw new UsageException($"--since takes a time such as 2026-11-26T08:00:00Z, not '{sinceText}'.");
            since = s;
        }
        using var store = await Store.OpenAsync(Defaults.StorePath, ct);
        var syncs = await store.ListSyncsAsync(ct);
        foreach (var w in args.Words) await store.GetSyncAsync(w, ct);
        if (args.Words.Count > 0) syncs = syncs.Where(s => args.Words.Contains(s.Name)).ToList();
        var rows = new List<ConflictRow>();
        var seen = new HashSet<string>();
        var retry = Output.Retry();
        foreach (var sync in syncs)
        {
            var group = await store.GetDbGroupAsync(sync.DbGroup, ct);
            foreach (var m in group.Members.Where(m => seen.Add(m.Database + "\0" + sync.Name)))
            {
                var db = await store.GetDatabaseAsync(m.Database, ct);
                try
                {
                    rows.AddRange(await retry.RunAsync(db, async token =>
                    {
                        await using var c = await Connect.OpenAsync(db, token, "ferry conflicts");
                        return await ReadAsync(c, db.Name, sync.Name, since, token);
                    }, ct));
                }
                catch (FerryException e)
                {
                    Output.Error($"skipped {db.Name}: {e.Message}");
                }
            }
        }
        rows = rows.OrderBy(r => r.DecidedAt).ToList();
        if (json)
        {
            Output.Line(JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
            return 0;
        }
        if (rows.Count == 0)
        {
            Output.Line("No conflicts recorded.");
            return 0;
        }
        Output.Table(["decided at", "on", "sync", "table", "key", "local (origin, version)", "incoming (origin, version)", "winner", "rule"],
            rows.Select(r => new[]
            {
                r.DecidedAt.ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture), r.Database, r.Sync, r.Table, r.Key,
                $"{r.LocalOrigin} {r.LocalVersion:HH:mm:ss.ffffff}", $"{r.IncomingOrigin} {r.IncomingVersion:HH:mm:ss.ffffff}",
                r.Winner, r.Rule,
            }));
        return 0;
    }

    private static async Task<List<ConflictRow>> ReadAsync(NpgsqlConnection c, string db, string sync, DateTimeOffset? since, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT decided_at, sync_name, format('%I.%I', schema_name, table_name), key::text, local_origin, local_version,
                   local_row::text, incoming_origin, incoming_version, incoming_row::text, winner, rule
            FROM ferry.conflicts
            WHERE sync_name = $1 AND ($2::timestamptz IS NULL OR decided_at >= $2)
            ORDER BY id
            """, c);
        cmd.Parameters.AddWithValue(sync);
        cmd.Parameters.Add(new NpgsqlParameter { Value = since.HasValue ? since.Value.UtcDateTime : DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
        var rows = new List<ConflictRow>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            rows.Add(new ConflictRow(db, r.GetDateTime(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4),
                r.GetDateTime(5), r.IsDBNull(6) ? null : r.GetString(6), r.GetString(7), r.GetDateTime(8),
                r.IsDBNull(9) ? null : r.GetString(9), r.GetString(10), r.GetString(11)));
        return rows;
    }
}
