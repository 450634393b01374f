using System.Text.Json;
using Npgsql;

namespace Ferry.Copy;

/// <summary>
/// Where an unfinished copy into a target stands: the source snapshot it began at (which becomes the pair's position
/// when it ends), the source it reads (its ferry node id), the tables it fills, and the table and key it got to. Kept
/// in the target's <c>ferry.meta</c> and written in the same transaction as each slice of rows, so a copy cut off at
/// any moment resumes after the last slice that committed, and never writes a slice twice.
/// </summary>
/// <param name="Copied">rows copied into each table of <paramref name="Fill"/> so far, over all attempts</param>
public sealed record CopyCursor(string Position, string NodeId, List<TableName> Fill, int Table, string[]? After, long[] Copied)
{
    private static string Key(string sync, string source) => $"copy {sync} from {source}";

    /// <summary>What the keys of the sync's cursors begin with, whichever source they copy from.</summary>
    public static string Prefix(string sync) => Key(sync, "");

    /// <summary>The statement that reads the cursor (one row, or none), for a caller that pipelines it.</summary>
    public static NpgsqlBatchCommand Load(string sync, string source) =>
        new("SELECT value FROM ferry.meta WHERE key = $1") { Parameters = { new NpgsqlParameter { Value = Key(sync, source) } } };

    public static CopyCursor? Parse(string? json) => json is null ? null : JsonSerializer.Deserialize<CopyCursor>(json);

    /// <summary>The statement that records the cursor, for a caller that pipelines it with the slice's last statements.</summary>
    public NpgsqlBatchCommand Save(string sync, string source) =>
        new("INSERT INTO ferry.meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        {
            Parameters = { new NpgsqlParameter { Value = Key(sync, source) }, new NpgsqlParameter { Value = JsonSerializer.Serialize(this) } },
        };

    public static NpgsqlBatchCommand Clear(string sync, string source) =>
        new("DELETE FROM ferry.meta WHERE key = $1") { Parameters = { new NpgsqlParameter { Value = Key(sync, source) } } };

    /// <summary>
    /// Refuses to replicate into a target that holds an unfinished copy for the sync: its tables are part filled, and a
    /// pair going on from its old position would leave the rows the copy emptied and did not refill missing for good.
    /// </summary>
    public static async Task RefuseUnfinishedAsync(NpgsqlConnection target, Pair pair, CancellationToken ct)
    {
        var prefix = Prefix(pair.Sync);
        await using var cmd = new NpgsqlCommand("SELECT substr(key, length($1) + 1) FROM ferry.meta WHERE starts_with(key, $1) LIMIT 1", target);
        cmd.Parameters.AddWithValue(prefix);
        if (await cmd.ExecuteScalarAsync(ct) is string source)
            throw new FerryException(
                $"Database {pair.Target} holds an unfinished copy for sync {pair.Sync} from {source}: its tables are part filled, " +
                "and replicating into them from where the pairs stood would leave rows missing. Finish the copy (it resumes " +
                $"where it stopped; the relay may keep running): ferry copy {pair.Sync} to={pair.Target} from={source}.")
            {
                PairState = $"waiting for the copy from {source}",
            };
    }

    /// <summary>Forgets every unfinished copy of the sync into this database (the sync is removed).</summary>
    public static async Task ClearAllAsync(NpgsqlConnection target, string sync, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("DELETE FROM ferry.meta WHERE starts_with(key, $1)", target);
        cmd.Parameters.AddWithValue(Prefix(sync));
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
