namespace Ferry.Install;

/// <summary>
/// Compares a table as each database has it. Replication needs the same primary key and the same columns with the
/// same types everywhere; anything else is named, database, table and column, before anything is changed.
/// </summary>
public static class ShapeCheck
{
    public static List<string> Problems(string referenceDb, TableShape reference, string otherDb, TableShape? other)
    {
        var t = reference.Name;
        if (other is null)
            return [$"Table {t} does not exist in database {otherDb}. Create it there with the same columns and primary key."];
        var problems = new List<string>();
        if (!reference.Key.SequenceEqual(other.Key))
            problems.Add($"Table {t} has primary key ({string.Join(", ", reference.Key)}) in {referenceDb} " +
                         $"but ({string.Join(", ", other.Key)}) in {otherDb}.");
        foreach (var col in reference.Columns)
        {
            var match = other.Columns.FirstOrDefault(c => c.Name == col.Name);
            if (match is null)
                problems.Add($"Column {Postgres.Quote.Ident(col.Name)} of table {t} is missing in database {otherDb}.");
            else if (match.Type != col.Type)
                problems.Add($"Column {Postgres.Quote.Ident(col.Name)} of table {t} is {col.Type} in {referenceDb} " +
                             $"but {match.Type} in {otherDb}.");
        }
        foreach (var col in other.Columns.Where(c => reference.Columns.All(r => r.Name != c.Name)))
            problems.Add($"Column {Postgres.Quote.Ident(col.Name)} of table {t} exists in {otherDb} but not in {referenceDb}.");
        return problems;
    }

    public static string? KeyProblem(string db, TableShape shape) =>
        shape.Key.Count == 0
            ? $"Table {shape.Name} in database {db} has no primary key. Ferry needs one to tell rows apart: " +
              $"ALTER TABLE {shape.Name} ADD PRIMARY KEY (...);"
            : shape.Columns.FirstOrDefault(c => c.Name.StartsWith("ferry_", StringComparison.Ordinal)) is { } reserved
                ? $"Table {shape.Name} has a column {Postgres.Quote.Ident(reserved.Name)}; names starting with ferry_ " +
                  "are reserved for ferry's bookkeeping. Rename the column."
                : null;
}
