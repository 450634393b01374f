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
            problems.Add($"Table {t} has primary key ({string.Join(", ", reference.Key)}) in database {referenceDb} " +
                         $"but ({(other.Key.Count == 0 ? "none" : string.Join(", ", other.Key))}) in database {otherDb}. " +
                         "Give it the same primary key in both.");
        foreach (var col in reference.Columns)
        {
            var match = other.Columns.FirstOrDefault(c => c.Name == col.Name);
            var column = Postgres.Quote.Ident(col.Name);
            if (match is null)
                problems.Add($"Column {column} of table {t} is missing in database {otherDb}. " +
                             $"Add it there: ALTER TABLE {t} ADD COLUMN {column} {col.Type};");
            else if (match.Type != col.Type)
                problems.Add($"Column {column} of table {t} is {col.Type} in database {referenceDb} " +
                             $"but {match.Type} in database {otherDb}. Make the types the same, e.g. in {otherDb}: " +
                             $"ALTER TABLE {t} ALTER COLUMN {column} TYPE {col.Type};");
        }
        foreach (var col in other.Columns.Where(c => reference.Columns.All(r => r.Name != c.Name)))
            problems.Add($"Column {Postgres.Quote.Ident(col.Name)} of table {t} exists in database {otherDb} but not in " +
                         $"database {referenceDb}. Add it to {referenceDb} or drop it from {otherDb}.");
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
