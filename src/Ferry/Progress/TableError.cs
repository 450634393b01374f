using Npgsql;

namespace Ferry.Progress;

/// <summary>
/// An SQL error raised by a statement that reads or applies one table of a pair (told by the failing command of the
/// batch, or by the constraint's table for one checked at COMMIT): that table is held on the pair, the others go on.
/// </summary>
public sealed class TableError(int table, PostgresException inner) : Exception(inner.MessageText, inner)
{
    /// <summary>The table's index in the pair's apply order.</summary>
    public int Table => table;

    public PostgresException Error => inner;

    /// <summary>The database whose statement failed, where known.</summary>
    public string? Database { get; init; }

    /// <summary>
    /// Whether the error is about the table's data, definition or rights, which a person fixes on that table: integrity
    /// (23), data (22), a missing column, table, type or grant (42), a user trigger's exception (P0, 38, 39, 2F), WITH
    /// CHECK OPTION (44). Not a link, a lock, a serialization failure, nor ferry's own conflict abort.
    /// </summary>
    public bool Holds => HoldsFor(inner);

    /// <summary>
    /// <see cref="Holds"/> for an error not yet wrapped: only such errors become a <see cref="TableError"/>, every other
    /// (a serialization failure, a lock timeout) goes on as it is and is retried as before.
    /// </summary>
    public static bool HoldsFor(PostgresException e) =>
        !Postgres.PgErrors.IsTransient(e) && !e.SqlState.StartsWith("FY", StringComparison.Ordinal)
        && e.SqlState[..2] is "22" or "23" or "42" or "44" or "P0" or "38" or "39" or "2F";

    /// <summary>Whether the error says the table's columns or the table itself are not what the SQL was built for.</summary>
    public bool IsShape => inner.SqlState is PostgresErrorCodes.UndefinedColumn or PostgresErrorCodes.UndefinedTable
        or PostgresErrorCodes.DatatypeMismatch or PostgresErrorCodes.UndefinedObject or PostgresErrorCodes.InvalidColumnReference;
}

/// <summary>
/// The columns of a replicated table changed on one end of a pair since it connected: the pair reads both ends'
/// columns again (reconnecting, so temporary tables are made anew) and holds the table if they now disagree.
/// </summary>
public sealed class ShapeChanged(string message, Exception? inner = null) : Exception(message, inner);
