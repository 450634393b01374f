namespace Ferry.ControlStore;

/// <summary>A table held on a pair (control_004_holds.sql): why, since when, and what a person does about it.</summary>
public sealed record HeldTableStatus(string Sync, string Source, string Target, TableName Table, string Cause, string Fix, string Since);

public sealed partial class Store
{
    /// <summary>Replaces what is recorded of a pair's held tables with <paramref name="holds"/>, in one transaction.</summary>
    public Task RecordHoldsAsync(Pair pair, IReadOnlyList<HeldTableStatus> holds, CancellationToken ct) =>
        InTransactionAsync(async tx =>
        {
            await Run(tx, "DELETE FROM held_tables WHERE sync = $s AND source = $src AND target = $tgt",
                ("$s", pair.Sync), ("$src", pair.Source), ("$tgt", pair.Target));
            foreach (var h in holds)
                await Run(tx, """
                    INSERT INTO held_tables (sync, source, target, schema_name, table_name, cause, fix, since)
                    VALUES ($s, $src, $tgt, $schema, $table, $cause, $fix, $since)
                    """, ("$s", pair.Sync), ("$src", pair.Source), ("$tgt", pair.Target), ("$schema", h.Table.Schema),
                    ("$table", h.Table.Name), ("$cause", h.Cause), ("$fix", h.Fix), ("$since", h.Since));
        }, ct);

    public Task<List<HeldTableStatus>> ListHeldTablesAsync(CancellationToken ct) =>
        QueryAsync("""
            SELECT sync, source, target, schema_name, table_name, cause, fix, since FROM held_tables
            ORDER BY sync, source, target, schema_name, table_name
            """,
            r => new HeldTableStatus(r.GetString(0), r.GetString(1), r.GetString(2), new TableName(r.GetString(3), r.GetString(4)),
                r.GetString(5), r.GetString(6), r.GetString(7)), ct);
}
