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

    public static async Task<CopyCursor?> LoadAsync(NpgsqlConnection target, string sync, string source, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT value FROM ferry.meta WHERE key = $1", target);
        cmd.Parameters.AddWithValue(Key(sync, source));
        return await cmd.ExecuteScalarAsync(ct) is string json ? JsonSerializer.Deserialize<CopyCursor>(json) : null;
    }

    public async Task SaveAsync(NpgsqlConnection target, string sync, string source, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "INSERT INTO ferry.meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", target);
        cmd.Parameters.AddWithValue(Key(sync, source));
        cmd.Parameters.AddWithValue(JsonSerializer.Serialize(this));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public static async Task ClearAsync(NpgsqlConnection target, string sync, string source, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("DELETE FROM ferry.meta WHERE key = $1", target);
        cmd.Parameters.AddWithValue(Key(sync, source));
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
