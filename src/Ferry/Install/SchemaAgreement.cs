using Ferry.Postgres;

namespace Ferry.Install;

/// <summary>Why a table cannot flow on a pair as the two ends have it now, and what a person does about it.</summary>
public sealed record Disagreement(string Cause, string Fix);

/// <summary>
/// Whether a table can flow from a source to a target as each has it now, columns matched by name. A schema change
/// rolled out one database at a time passes through states where they disagree; the pair then holds the table
/// (<see cref="Progress.TableHold"/>) rather than carry rows in a shape one end cannot hold, and lets it go on by itself
/// when they agree again.
/// </summary>
public static class SchemaAgreement
{
    /// <summary>
    /// Null when the table can flow; else every reason it cannot. The source may not have a column the target lacks,
    /// and common columns must have one type. The target may have columns the source lacks only when nothing reads from
    /// it (<paramref name="targetIsRead"/> false, a plain replica): where the target is itself a source, carrying the
    /// source's rows without its extra column would let the two diverge for good, since what it holds in that column
    /// could not travel back until the source has it too.
    /// </summary>
    public static Disagreement? Check(string sourceDb, TableShape? source, string targetDb, TableShape? target, bool targetIsRead,
        TableName table)
    {
        var resumes = "; the table resumes by itself";
        if (target is null)
            return new Disagreement($"table {table} does not exist on {targetDb}",
                $"create it on {targetDb} with the columns and primary key it has on {sourceDb}{resumes}");
        if (source is null)
            return new Disagreement($"table {table} does not exist on {sourceDb}",
                $"create it on {sourceDb} with the columns and primary key it has on {targetDb}, or remove it from the herd{resumes}");
        var causes = new List<string>();
        var fixes = new List<string>();
        if (!source.Key.SequenceEqual(target.Key))
        {
            causes.Add($"the primary key of {table} is ({string.Join(", ", source.Key)}) on {sourceDb} but " +
                       $"({(target.Key.Count == 0 ? "none" : string.Join(", ", target.Key))}) on {targetDb}");
            fixes.Add("give it the same primary key on both");
        }
        foreach (var col in source.Columns)
        {
            var column = Quote.Ident(col.Name);
            var match = target.Columns.FirstOrDefault(c => c.Name == col.Name);
            if (match is null)
            {
                causes.Add($"column {column} of {table} on {sourceDb} is missing on {targetDb}");
                fixes.Add($"add the column on {targetDb} (ALTER TABLE {table} ADD COLUMN {column} {col.Type}), or drop it on {sourceDb}");
            }
            else if (match.Type != col.Type)
            {
                causes.Add($"column {column} of {table} is {col.Type} on {sourceDb} but {match.Type} on {targetDb}");
                fixes.Add($"give it one type on both (on {targetDb}: ALTER TABLE {table} ALTER COLUMN {column} TYPE {col.Type})");
            }
        }
        if (targetIsRead)
            foreach (var col in target.Columns.Where(c => source.Columns.All(s => s.Name != c.Name)))
            {
                var column = Quote.Ident(col.Name);
                causes.Add($"column {column} of {table} on {targetDb} is missing on {sourceDb} (and {targetDb} is a source " +
                           $"too: {sourceDb}'s rows carried without it would leave the two different)");
                fixes.Add($"add the column on {sourceDb} (ALTER TABLE {table} ADD COLUMN {column} {col.Type}), or drop it on {targetDb}");
            }
        return causes.Count == 0 ? null : new Disagreement(string.Join("; ", causes), string.Join("; ", fixes) + resumes);
    }

    /// <summary>
    /// The target's shape cut to the source's columns, in the source's order, for a table that agrees: the read and the
    /// apply then list the same columns in the same order, and a replica's own extra columns are left to their defaults.
    /// </summary>
    public static TableShape Common(TableShape source, TableShape target)
    {
        var names = source.Columns.Select(c => c.Name).ToHashSet();
        return target with
        {
            Columns = source.Columns.Select(s => target.Columns.First(c => c.Name == s.Name)).ToList(),
            UniqueKeys = target.UniqueKeys.Where(u => u.Columns.All(names.Contains)).ToList(),
        };
    }
}
