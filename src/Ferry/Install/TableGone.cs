using System.Text.RegularExpressions;

namespace Ferry.Install;

/// <summary>
/// What a pair says when a table of its herd is missing on one of its databases: most often it was renamed or
/// dropped on purpose, and ferry has a command for each.
/// </summary>
public static partial class TableGone
{
    public static string Message(TableName table, string db) =>
        $"Table {table} no longer exists on {db}: if it was renamed, run ferry rename table {CommandForm(table)} NEW " +
        $"(after renaming it on every database); if it was dropped, run ferry remove table {CommandForm(table)}. " +
        "Then restart the relay: ferry restart.";

    /// <summary>The name as a user types it in a shell: bare when PostgreSQL would not quote it, else quoted.</summary>
    public static string CommandForm(TableName table)
    {
        if (Plain().IsMatch(table.Schema) && Plain().IsMatch(table.Name)) return table.Schema + "." + table.Name;
        return "'" + table.ToString().Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    [GeneratedRegex("^[a-z_][a-z0-9_]*$")]
    private static partial Regex Plain();
}
