using Ferry.Capture;
using Ferry.Postgres;
using Npgsql;

namespace Ferry.Install;

/// <summary>
/// Follows a table that the user renamed (or moved to another schema) on every database: ferry's own objects for it
/// take the new name, with their contents, so no row version, logged change or truncate is lost or sent again.
/// Their names derive from the table's (<see cref="CaptureNames"/>), so each is renamed in place; the triggers stay
/// on the table (a rename does not touch them) and call the renamed functions (they call them by oid).
/// </summary>
public static class TableRename
{
    /// <summary>What stops the rename on this database, or null: checked everywhere before anything changes.</summary>
    public static async Task<string?> ProblemAsync(NpgsqlConnection c, string db, TableName from, TableName to, CancellationToken ct)
    {
        var (old, renamed) = (new CaptureNames(from), new CaptureNames(to));
        await using var cmd = new NpgsqlCommand("""
            SELECT pg_catalog.to_regclass($1) IS NOT NULL, pg_catalog.to_regclass($2) IS NOT NULL,
                   pg_catalog.to_regclass($3) IS NOT NULL, pg_catalog.to_regclass($4) IS NOT NULL
            """, c);
        foreach (var name in new[] { Quote.Qualified(from), Quote.Qualified(to), old.RowVersions, renamed.RowVersions })
            cmd.Parameters.AddWithValue(name);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        if (r.GetBoolean(0))
            return $"Table {from} still exists on {db}: rename it there first (ALTER TABLE {from} RENAME TO ...), as on the " +
                   "other databases, then run this again. Ferry follows a rename made everywhere; it does not rename your tables.";
        if (!r.GetBoolean(1))
            return $"Table {to} does not exist on {db} (or ferry's role cannot see it): rename {from} to it there too, then run this again.";
        if (r.GetBoolean(2) && r.GetBoolean(3))
            return $"Ferry already keeps row versions for a table named {to} on {db} (left by an earlier sync of a table by that " +
                   $"name) beside those of {from}. As {c.UserName}, drop the stale ones there (DROP TABLE {renamed.RowVersions}, " +
                   $"{renamed.Log};) if no sync uses them, then run this again.";
        return null;
    }

    /// <summary>
    /// Renames ferry's objects for the table on one database and reinstalls its capture functions under the new
    /// name, in one transaction. Run again, it finds them renamed and changes nothing more.
    /// </summary>
    public static async Task RenameAsync(NpgsqlConnection c, TableName from, TableName to, IReadOnlyCollection<string> syncs,
        CancellationToken ct)
    {
        var (old, renamed) = (new CaptureNames(from), new CaptureNames(to));
        var shape = await TableCatalog.ReadAsync(c, to, ct) ?? throw new FerryException($"Table {to} disappeared while renaming.");
        await using (var probe = new NpgsqlCommand("""
            SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = pg_catalog.to_regclass($1) AND tgname = 'ferry_capture_insert'),
                   pg_catalog.to_regprocedure($2) IS NOT NULL, pg_catalog.to_regprocedure($3) IS NOT NULL
            """, c))
        {
            probe.Parameters.AddWithValue(Quote.Qualified(to));
            probe.Parameters.AddWithValue(old.Function + "()");
            probe.Parameters.AddWithValue(old.TruncateFunction + "()");
            await using var r = await probe.ExecuteReaderAsync(ct);
            await r.ReadAsync(ct);
            var (captured, hasFunction, hasTruncateFunction) = (r.GetBoolean(0), r.GetBoolean(1), r.GetBoolean(2));
            await r.DisposeAsync();
            var statements = new List<string>
            {
                "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('ferry.install'))",
                $"ALTER TABLE IF EXISTS {old.RowVersions} RENAME TO {Quote.Ident("rv_" + renamed.Base)}",
                $"ALTER INDEX IF EXISTS {Quote.Qualified(Defaults.Schema, "rv_" + old.Base + "_pkey")} RENAME TO {Quote.Ident("rv_" + renamed.Base + "_pkey")}",
                $"ALTER INDEX IF EXISTS {Quote.Qualified(Defaults.Schema, "rv_" + old.Base + "_xid")} RENAME TO {renamed.RowVersionsXidIndex}",
                $"ALTER TABLE IF EXISTS {old.Log} RENAME TO {Quote.Ident("log_" + renamed.Base)}",
                $"DROP FUNCTION IF EXISTS {old.Fold}(integer)",
            };
            // The triggers keep calling these by oid: renamed, then replaced below with bodies that name the new objects.
            if (hasFunction) statements.Add($"ALTER FUNCTION {old.Function}() RENAME TO {Quote.Ident("capture_" + renamed.Base)}");
            if (hasTruncateFunction)
                statements.Add($"ALTER FUNCTION {old.TruncateFunction}() RENAME TO {Quote.Ident("capture_truncate_" + renamed.Base)}");
            statements.Add(await NodeInstaller.CaptureSqlAsync(c, shape, "pg_catalog.clock_timestamp()", captured, ct));
            await using var tx = await c.BeginTransactionAsync(ct);
            foreach (var sql in statements) await ExecAsync(c, sql, ct);
            // The table's last truncate is its table-wide tombstone: it keeps its meaning under the new name.
            await ExecAsync(c, "UPDATE ferry.truncates SET schema_name = $1, table_name = $2 WHERE schema_name = $3 AND table_name = $4", ct,
                to.Schema, to.Name, from.Schema, from.Name);
            await ForgetChunksAsync(c, syncs, ct);
            await tx.CommitAsync(ct);
        }
    }

    /// <summary>
    /// A batch cut into chunks resumes at a table's index in the herd's order, which a table leaving the herd (or
    /// moving in the order under a new name) shifts. Forgetting the chunk cursor makes the pair read the batch again
    /// from its last complete position, which applies nothing twice (re-applying a batch changes nothing); raising
    /// the save count makes a relay still running with the old cursor roll its next chunk back and read this.
    /// </summary>
    public static Task ForgetChunksAsync(NpgsqlConnection c, IReadOnlyCollection<string> syncs, CancellationToken ct) =>
        ExecAsync(c, """
            UPDATE ferry.progress SET chunk_to = NULL, chunk_table = NULL, chunk_after_key = NULL, batches = batches + 1
            WHERE sync_name = ANY ($1) AND chunk_to IS NOT NULL
            """, ct, (object)syncs.ToArray());

    private static async Task ExecAsync(NpgsqlConnection c, string sql, CancellationToken ct, params object[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, c);
        foreach (var a in args) cmd.Parameters.AddWithValue(a);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
