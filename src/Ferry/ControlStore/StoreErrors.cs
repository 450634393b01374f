using Microsoft.Data.Sqlite;

namespace Ferry.ControlStore;

/// <summary>What the store's own failures mean to a person, so no driver type leaves this folder.</summary>
public static class StoreErrors
{
    /// <summary>
    /// What SQLite says about the store file, as what to do about it; null for a failure that is no fault of the file
    /// (PostgreSQL's are explained where they happen: the connection names the store, a statement's refusal is shown).
    /// </summary>
    public static string? Explain(Exception e)
    {
        if (e is not SqliteException se) return null;
        var store = Defaults.StorePath;
        // Microsoft.Data.Sqlite words it "SQLite Error 8: 'attempt to write a readonly database'.": keep SQLite's own words.
        var (open, close) = (se.Message.IndexOf('\'', StringComparison.Ordinal), se.Message.LastIndexOf('\''));
        var sqlite = "SQLite: " + (close > open + 1 ? se.Message[(open + 1)..close] : Flat(se.Message));
        return se.SqliteErrorCode switch
        {
            26 or 11 => $"The control store {store} is damaged or is not a ferry store ({sqlite}). Restore it from a backup, or " +
                        "move it away, run ferry install and add the configuration again (replication state is kept in the databases).",
            8 => $"ferry cannot write its control store {store} ({sqlite}). Make it writable by you (chmod 600 {store}, and " +
                 $"chmod 700 {Defaults.Home}), or check that its disk is not mounted read-only.",
            14 => $"ferry cannot open its control store {store} ({sqlite}). Check that {Defaults.Home} is a folder you can write.",
            13 => $"The disk of {store} is full ({sqlite}). Free some space and run the command again.",
            5 or 6 => $"The control store {store} stayed busy: another ferry command held it ({sqlite}). Run the command again.",
            _ => null,
        };
    }

    private static string Flat(string message) => string.Join(' ', message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
}
