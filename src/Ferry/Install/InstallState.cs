using Ferry.Capture;
using Ferry.Postgres;
using Npgsql;

namespace Ferry.Install;

/// <summary>
/// What `ferry add sync` installed, as it should still be: ferry's schema at this build's version, each herd table's
/// row versions, and the four capture triggers, enabled, where some pair reads. Someone may have dropped or disabled
/// them since (a restore without the ferry schema, `ALTER TABLE … DISABLE TRIGGER ALL` for a bulk load), and changes
/// made meanwhile were never captured. Reads only.
/// </summary>
public static class InstallState
{
    private static readonly string[] Triggers = ["ferry_capture_insert", "ferry_capture_update", "ferry_capture_delete", "ferry_capture_truncate"];

    /// <returns>each problem naming the database, the table and the fix; none if the database cannot be reached (the
    /// grant check says that)</returns>
    public static async Task<List<string>> ProblemsAsync(Database db, IReadOnlyList<TableName> tables, bool capturing, LinkRetry retry,
        CancellationToken ct)
    {
        try
        {
            return await retry.RunAsync(db, token => ReadAsync(db, tables, capturing, token), ct);
        }
        catch (FerryException)
        {
            return [];
        }
    }

    private static async Task<List<string>> ReadAsync(Database db, IReadOnlyList<TableName> tables, bool capturing, CancellationToken ct)
    {
        var problems = new List<string>();
        var c = await Connect.OpenAsync(db, ct, "ferry validate");
        await using (c)
        {
            try
            {
                await NodeInstaller.CheckVersionAsync(c, db.Name, ct);
            }
            catch (FerryException e)
            {
                problems.Add(e.Message);
                return problems;
            }
            foreach (var t in tables)
            {
                await using var cmd = new NpgsqlCommand(
                    "SELECT pg_catalog.to_regclass($1) IS NOT NULL, count(*), " +
                    "pg_catalog.array_agg(tgname ORDER BY tgname) FILTER (WHERE tgenabled = 'D') FROM pg_catalog.pg_trigger " +
                    "WHERE tgrelid = pg_catalog.to_regclass($2) AND tgname = ANY($3)", c);
                cmd.Parameters.AddWithValue(new CaptureNames(t).RowVersions);
                cmd.Parameters.AddWithValue(Quote.Qualified(t));
                cmd.Parameters.AddWithValue(Triggers);
                await using var r = await cmd.ExecuteReaderAsync(ct);
                await r.ReadAsync(ct);
                if (!r.GetBoolean(0))
                    problems.Add($"Database {db.Name}: ferry's row versions for {t} are missing. Install them again: ferry upgrade");
                else if (capturing && r.GetInt64(1) < Triggers.Length)
                    problems.Add($"Database {db.Name}: capture triggers on {t} are missing, so changes to it there are not " +
                                 "replicated. Install them again with ferry upgrade, then check the rows written meanwhile: ferry compare SYNC");
                else if (capturing && !r.IsDBNull(2))
                    problems.Add($"Database {db.Name}: capture triggers on {t} are disabled, so changes to it there are not " +
                                 "replicated. As the table's owner, run: " +
                                 string.Join(" ", r.GetFieldValue<string[]>(2).Select(n => $"ALTER TABLE {Quote.Qualified(t)} ENABLE TRIGGER {Quote.Ident(n)};")) +
                                 " then check the rows written meanwhile: ferry compare SYNC");
            }
        }
        return problems;
    }
}
