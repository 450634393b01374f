namespace Ferry.Install;

/// <summary>
/// Compares a table as each database has it. Replication needs the same primary key everywhere, and on each target
/// every column its sources send, with the same type (a target may hold more columns, and in any order: columns go
/// by name). Anything else is named, database, table and column, before anything is changed.
/// </summary>
public static class ShapeCheck
{
    /// <summary>What stops rows going from <paramref name="sourceDb"/> to <paramref name="targetDb"/>.</summary>
    public static List<string> Problems(string sourceDb, TableShape source, string targetDb, TableShape? target) =>
        target is null
            ? [$"Table {source.Name} does not exist in database {targetDb}. Create it there with the same columns and primary key."]
            : KeyProblems(sourceDb, source, targetDb, target).Concat(ColumnProblems(sourceDb, source, targetDb, target)).ToList();

    public static IEnumerable<string> KeyProblems(string referenceDb, TableShape reference, string otherDb, TableShape other)
    {
        if (!reference.Key.SequenceEqual(other.Key))
            yield return $"Table {reference.Name} has primary key ({string.Join(", ", reference.Key)}) in database {referenceDb} " +
                         $"but ({(other.Key.Count == 0 ? "none" : string.Join(", ", other.Key))}) in database {otherDb}. " +
                         "Give it the same primary key in both.";
    }

    /// <summary>Every column the source sends must be in the target with the same type; the target's others stay its own.</summary>
    public static IEnumerable<string> ColumnProblems(string sourceDb, TableShape source, string targetDb, TableShape target)
    {
        var t = source.Name;
        foreach (var col in source.Columns)
        {
            var match = target.Columns.FirstOrDefault(c => c.Name == col.Name);
            var column = Postgres.Quote.Ident(col.Name);
            if (match is null)
                yield return $"Column {column} of table {t} is missing in database {targetDb}, which receives it from {sourceDb}. " +
                             $"Add it there: ALTER TABLE {t} ADD COLUMN {column} {col.Type};";
            else if (match.Type != col.Type)
                yield return $"Column {column} of table {t} is {col.Type} in database {sourceDb} " +
                             $"but {match.Type} in database {targetDb}. Make the types the same, e.g. in {targetDb}: " +
                             $"ALTER TABLE {t} ALTER COLUMN {column} TYPE {col.Type};";
        }
    }

    /// <summary>
    /// A table ferry cannot replicate at all. A key column may not start with <c>ferry_</c>: ferry's row-version tables
    /// and change logs hold the key's columns beside their own, which are all named so (Apply/TempColumns has the rest
    /// of the naming scheme; other columns may be called anything).
    /// </summary>
    public static string? KeyProblem(string db, TableShape shape) =>
        shape.Key.Count == 0
            ? $"Table {shape.Name} in database {db} has no primary key. Ferry needs one to tell rows apart: " +
              $"ALTER TABLE {shape.Name} ADD PRIMARY KEY (...);"
            : shape.Key.FirstOrDefault(k => k.StartsWith("ferry_", StringComparison.Ordinal)) is { } reserved
                ? $"Table {shape.Name} has a primary-key column {Postgres.Quote.Ident(reserved)}; ferry keeps the key's columns " +
                  "beside its own, whose names start with ferry_. Rename the column."
                : null;
}
