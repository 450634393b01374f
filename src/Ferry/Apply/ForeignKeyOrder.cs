using Ferry.Install;
using Npgsql;

namespace Ferry.Apply;

/// <summary>
/// Orders a herd's tables so that a parent comes before its children. Without superuser, foreign keys still fire on
/// the target: upserting parents first and deleting children first keeps every constraint satisfied.
/// </summary>
public static class ForeignKeyOrder
{
    public static async Task<IReadOnlyList<TableName>> SortAsync(NpgsqlConnection c, IReadOnlyList<TableName> tables, CancellationToken ct)
    {
        var edges = await TableCatalog.ForeignKeysAsync(c, tables, ct);
        return Sort(tables, edges.Select(e => (e.Child, e.Parent)));
    }

    /// <summary>Topological order, stable with respect to the herd's own order; cycles keep the herd's order.</summary>
    public static IReadOnlyList<TableName> Sort(IReadOnlyList<TableName> tables, IEnumerable<(TableName Child, TableName Parent)> edges)
    {
        var parents = tables.ToDictionary(t => t, _ => new HashSet<TableName>());
        foreach (var (child, parent) in edges)
            if (parents.ContainsKey(child) && parents.ContainsKey(parent))
                parents[child].Add(parent);
        var result = new List<TableName>();
        var placed = new HashSet<TableName>();
        while (result.Count < tables.Count)
        {
            var next = tables.FirstOrDefault(t => !placed.Contains(t) && parents[t].All(placed.Contains))
                       ?? tables.First(t => !placed.Contains(t));
            result.Add(next);
            placed.Add(next);
        }
        return result;
    }
}
