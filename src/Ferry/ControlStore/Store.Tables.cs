namespace Ferry.ControlStore;

/// <summary>A table leaving a herd, or following its own rename, keeping its place and its conflict rule.</summary>
public sealed partial class Store
{
    /// <summary>Removes the table from the given herds; returns how many herds held it.</summary>
    public async Task<int> RemoveFromHerdsAsync(IEnumerable<string> herds, TableName table, CancellationToken ct)
    {
        var removed = 0;
        await InTransactionAsync(async tx =>
        {
            removed = 0;
            foreach (var h in herds)
                removed += await Run(tx, "DELETE FROM herd_tables WHERE herd = $h AND schema_name = $s AND table_name = $t",
                    ("$h", h), ("$s", table.Schema), ("$t", table.Name));
        }, ct);
        return removed;
    }

    /// <summary>Renames the table in every herd that holds it: same position, same conflict rule.</summary>
    public Task RenameInHerdsAsync(TableName from, TableName to, CancellationToken ct) =>
        ExecuteAsync("UPDATE herd_tables SET schema_name = $ns, table_name = $nt WHERE schema_name = $s AND table_name = $t", ct,
            ("$ns", to.Schema), ("$nt", to.Name), ("$s", from.Schema), ("$t", from.Name));
}
