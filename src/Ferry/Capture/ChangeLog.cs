using Npgsql;

namespace Ferry.Capture;

/// <summary>
/// The change logs that capture triggers append to and that ferry folds into the row versions (capture_table.sql).
/// A fold call takes at most <see cref="Defaults.FoldLimit"/> entries per table, so that one call stays well inside the
/// relay's command timeout even after a relay outage of hours left millions of entries: a read folds once per
/// batch (what it leaves is read in the next batches), and a connection that opens folds the whole backlog first,
/// a limit at a time, so that the full fold inside every apply transaction finds little to do.
/// </summary>
public static class ChangeLog
{
    /// <summary>Per table, the call that folds its log, up to the limit or all of it, and says how many entries it took.</summary>
    public static IEnumerable<string> Folds(IEnumerable<TableName> tables, bool limited = true)
    {
        var limit = limited ? Defaults.FoldLimit.ToString(System.Globalization.CultureInfo.InvariantCulture) : "NULL";
        return tables.Select(t => $"{new CaptureNames(t).Fold}({limit})");
    }

    /// <summary>Folds every table's whole log: one round trip per limit's worth, for all the tables at once.</summary>
    public static async Task CatchUpAsync(NpgsqlConnection c, string database, string sync, IReadOnlyList<TableName> tables,
        CancellationToken ct)
    {
        if (tables.Count == 0) return;
        // greatest() evaluates every argument: each table's fold runs, and the largest count says whether to go on.
        await using var fold = new NpgsqlCommand($"SELECT greatest({string.Join(", ", Folds(tables))})", c);
        try
        {
            while ((long)(await fold.ExecuteScalarAsync(ct))! >= Defaults.FoldLimit) { }
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedFunction)
        {
            throw new FerryException(
                $"{database} has ferry's capture from before the change log ({e.MessageText}) for sync {sync}. Upgrade it " +
                "in place (row versions and positions are kept; the application keeps writing): ferry upgrade, then " +
                "ferry restart.", e);
        }
    }
}
