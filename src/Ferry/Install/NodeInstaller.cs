using Ferry.Capture;
using Ferry.Postgres;
using Npgsql;

namespace Ferry.Install;

/// <summary>
/// Installs ferry's schema and the capture of each table in one database. Idempotent and versioned: installing
/// twice, or over an older version, leaves one correct installation.
/// </summary>
public static class NodeInstaller
{
    private static readonly string[] NodeScripts =
        ["node_001_schema.sql", "node_010_progress.sql", "node_020_truncates.sql", "node_030_conflicts.sql", "node_040_origin.sql",
         "node_050_holds.sql", "node_060_wal.sql", "node_070_wal_wait.sql"];

    /// <summary>
    /// The version of ferry's schema and capture that this build installs. 2: capture appends to change logs that
    /// the relay folds (a version-1 database has no fold functions). 3: capture honours ferry.origin only in ferry's
    /// own sessions (a version-2 database lets any session switch its capture off), and ferry's key columns take
    /// widened types (<see cref="Column.VersionType"/>): a version-2 capture rejects the application's writes once a
    /// key's owner widens it. Also tables held per pair (ferry.held_tables) and the column fingerprints both
    /// ends of a pair compare (ferry.shapes). 4: an application's UPDATE and DELETE append to the change log whatever
    /// their size (a version-3 capture upserts the row versions of a large one in the application's statement, at
    /// 3x its cost). 5: ferry.wal_wait, the apply's wait for WAL capture (a version-4 database lacks it).
    /// </summary>
    public const int SchemaVersion = 5;

    public static async Task InstallSchemaAsync(NpgsqlConnection c, CancellationToken ct)
    {
        await using var tx = await c.BeginTransactionAsync(ct);
        // Two relays (or a relay and `ferry add sync`) installing at once must not race on CREATE ... IF NOT EXISTS.
        await Exec(c, "SELECT pg_advisory_xact_lock(hashtext('ferry.install'))", ct);
        var version = new Dictionary<string, string> { ["schema_version"] = SchemaVersion.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        foreach (var script in NodeScripts) await Exec(c, SqlResources.Fill(SqlResources.Read(script), version), ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>
    /// Refuses a database whose ferry schema this build cannot run on: never installed, or installed by an older
    /// ferry (whose capture this relay would misread). The message names the command that fixes it.
    /// </summary>
    public static async Task CheckVersionAsync(NpgsqlConnection c, string database, CancellationToken ct)
    {
        string? found;
        try
        {
            await using var cmd = new NpgsqlCommand("SELECT value FROM ferry.meta WHERE key = 'schema_version'", c);
            found = (string?)await cmd.ExecuteScalarAsync(ct);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName)
        {
            throw new FerryException($"Database {database} has no ferry schema ({e.MessageText}): it was never installed there, " +
                                     "or it was dropped. Install it with: ferry upgrade (it installs every sync's capture " +
                                     "where it is missing).", e);
        }
        if (int.TryParse(found, System.Globalization.CultureInfo.InvariantCulture, out var version) && version >= SchemaVersion) return;
        throw new FerryException($"Database {database} has ferry's schema version {found ?? "unknown"}; this ferry needs version " +
                                 $"{SchemaVersion}. Upgrade it in place (row versions, positions and conflicts are kept; the " +
                                 "application keeps writing): ferry upgrade, then ferry restart.");
    }

    /// <summary>
    /// Write statements of more rows than this upsert their row versions themselves rather than append to the change
    /// log (capture_table.sql says why).
    /// </summary>
    public const int BulkRows = 1000;

    /// <summary>
    /// An UPDATE of up to this many rows, on a table whose key columns are all of fixed width, compares its old and new
    /// keys as two arrays before it looks for moved keys (capture_table.sql says why): at most a few tens of MB in the
    /// application's backend. Larger ones, and keys of variable width (which the arrays would hold detoasted), take the
    /// hashed EXCEPT.
    /// </summary>
    public const int ZipRows = 1_000_000;

    private static async Task<bool> FixedWidthKeyAsync(NpgsqlConnection c, TableShape shape, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT pg_catalog.bool_and(t.typlen > 0) FROM pg_catalog.pg_attribute AS a JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid " +
            "WHERE a.attrelid = $1::text::regclass AND a.attname = ANY($2) AND NOT a.attisdropped", c);
        cmd.Parameters.AddWithValue(Quote.Qualified(shape.Name));
        cmd.Parameters.AddWithValue(shape.Key.ToArray());
        return await cmd.ExecuteScalarAsync(ct) is true;
    }

    /// <param name="triggers">
    /// Whether the table's writes are captured here: on a database some pair reads from. Elsewhere the row-version
    /// table is still made (the apply keeps versions there) and capture triggers left by an earlier install go.
    /// </param>
    public static Task InstallCaptureAsync(NpgsqlConnection c, TableShape shape, CancellationToken ct, bool triggers = true) =>
        InstallCaptureAsync(c, shape, "pg_catalog.clock_timestamp()", ct, triggers);

    /// <summary>The clock expression is for tests that simulate clock skew between databases.</summary>
    internal static async Task InstallCaptureAsync(NpgsqlConnection c, TableShape shape, string clock, CancellationToken ct,
        bool triggers = true)
    {
        var sql = await CaptureSqlAsync(c, shape, clock, triggers, ct);
        await using var tx = await c.BeginTransactionAsync(ct);
        await Exec(c, "SELECT pg_advisory_xact_lock(hashtext('ferry.install'))", ct);
        await Exec(c, sql, ct);
        await WidenKeysAsync(c, shape, new CaptureNames(shape.Name), ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>
    /// The SQL that installs (or replaces) the capture of one table. A partitioned table is captured by row-level
    /// triggers, which PostgreSQL clones onto its partitions (capture_rows.sql says why).
    /// </summary>
    internal static async Task<string> CaptureSqlAsync(NpgsqlConnection c, TableShape shape, string clock, bool triggers,
        CancellationToken ct)
    {
        var names = new CaptureNames(shape.Name);
        var partitioned = (await TableKind.ReadAsync(c, shape.Name, ct))?.Partitioned == true;
        var zipRows = await FixedWidthKeyAsync(c, shape, ct) ? ZipRows : 0;
        var parts = !triggers ? new[] { "capture_drop.sql", "capture_table.sql" }
            : partitioned ? ["capture_table.sql", "capture_rows.sql", "capture_row_triggers.sql"]
            : ["capture_table.sql", "capture_triggers.sql"];
        return SqlResources.Fill(string.Join("\n", parts.Select(SqlResources.Read)), new Dictionary<string, string>
        {
            ["rv"] = names.RowVersions,
            ["rv_xid_index"] = names.RowVersionsXidIndex,
            ["log"] = names.Log,
            ["fold"] = names.Fold,
            ["bulk_rows"] = BulkRows.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["zip_rows"] = zipRows.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["key_row"] = shape.Key.Count == 1 ? Quote.Ident(shape.Key[0]) : "ROW(" + Quote.List(shape.Key) + ")",
            ["truncated"] = $"(SELECT t.version OPERATOR(pg_catalog.+) interval '1 microsecond' FROM ferry.truncates AS t " +
                            $"WHERE t.schema_name OPERATOR(pg_catalog.=) {Quote.Literal(shape.Name.Schema)} " +
                            $"AND t.table_name OPERATOR(pg_catalog.=) {Quote.Literal(shape.Name.Name)})",
            ["local_wins"] = "ferry_version = greatest(excluded.ferry_version, r.ferry_version OPERATOR(pg_catalog.+) interval '1 microsecond'), " +
                             "ferry_based_on = CASE WHEN r.ferry_origin IS NULL THEN r.ferry_based_on ELSE r.ferry_version END, " +
                             "ferry_origin = NULL, ferry_xid = excluded.ferry_xid",
            ["fn"] = names.Function,
            ["fn_truncate"] = names.TruncateFunction,
            ["table"] = Quote.Qualified(shape.Name),
            ["table_literal"] = Quote.Literal(Quote.Qualified(shape.Name)),
            ["key_defs"] = string.Join(", ", shape.KeyColumns.Select(k => Quote.Ident(k.Name) + " " + k.VersionType)),
            ["key_cols"] = Quote.List(shape.Key),
            ["clock"] = clock,
            ["doorbell"] = Doorbell.Arguments,
            ["old_keys"] = string.Join(", ", shape.Key.Select(k => "OLD." + Quote.Ident(k))),
            ["new_keys"] = string.Join(", ", shape.Key.Select(k => "NEW." + Quote.Ident(k))),
        });
    }

    /// <summary>
    /// CREATE TABLE IF NOT EXISTS keeps a row-version table or change log that an older ferry made with the key's own
    /// type, or that was made before the table's owner changed the key's type (removing and adding the sync again
    /// keeps them too, with their tombstones): their key columns are brought to <see cref="Column.VersionType"/>.
    /// Through text, so that any type the table's values can be read back as converts.
    /// </summary>
    private static async Task WidenKeysAsync(NpgsqlConnection c, TableShape shape, CaptureNames names, CancellationToken ct)
    {
        foreach (var table in new[] { names.RowVersions, names.Log })
        {
            var types = new Dictionary<string, string>(StringComparer.Ordinal);
            await using (var cmd = new NpgsqlCommand(
                "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute " +
                "WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped", c))
            {
                cmd.Parameters.AddWithValue(table);
                await using var r = await cmd.ExecuteReaderAsync(ct);
                while (await r.ReadAsync(ct)) types[r.GetString(0)] = r.GetString(1);
            }
            var changed = shape.KeyColumns.Where(k => types.TryGetValue(k.Name, out var type) && type != k.VersionType).ToList();
            if (changed.Count == 0) continue;
            var alter = $"ALTER TABLE {table} " + string.Join(", ", changed.Select(k =>
                $"ALTER COLUMN {Quote.Ident(k.Name)} TYPE {k.VersionType} USING {Quote.Ident(k.Name)}::text::{k.VersionType}"));
            try
            {
                await Exec(c, alter, ct);
            }
            catch (PostgresException e) when (e.SqlState.StartsWith("22", StringComparison.Ordinal))
            {
                var columns = string.Join(", ", changed.Select(k => $"{Quote.Ident(k.Name)} ({types[k.Name]} to {k.VersionType})"));
                throw new FerryException($"Ferry's copies of the key of table {shape.Name} in {table} hold values that do not convert " +
                                         $"to the key's new type: {columns}: {e.MessageText}. They are keys from before the type " +
                                         "changed, which the pairs can no longer match to rows. Remove the sync, drop " +
                                         $"{names.RowVersions} and {names.Log} as ferry's role, and add the sync again with " +
                                         "onetimecopy=1.", e);
            }
        }
    }

    public static async Task RemoveCaptureAsync(NpgsqlConnection c, TableName table, CancellationToken ct)
    {
        var names = new CaptureNames(table);
        var sql = SqlResources.Fill(SqlResources.Read("capture_drop.sql"), new Dictionary<string, string>
        {
            ["fn"] = names.Function,
            ["fn_truncate"] = names.TruncateFunction,
        });
        await Exec(c, sql, ct);
    }

    private static async Task Exec(NpgsqlConnection c, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, c);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
