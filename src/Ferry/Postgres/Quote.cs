namespace Ferry.Postgres;

/// <summary>
/// The one place where identifiers become SQL text. Everything ferry generates goes through here, so a table
/// called <c>Robert"); DROP TABLE students;--</c> is only ever a strange name, never a statement.
/// </summary>
public static class Quote
{
    public static string Ident(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Contains('\0'))
            throw new ArgumentException("An identifier cannot contain a NUL character.", nameof(name));
        return "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }

    public static string Qualified(string schema, string name) => Ident(schema) + "." + Ident(name);

    public static string Qualified(TableName table) => Qualified(table.Schema, table.Name);

    /// <summary>
    /// A string literal, for the few places that cannot take parameters (DDL, trigger bodies). With a backslash in
    /// it, an escape-string literal (<c>E'a\\b'</c>): a plain one would let a backslash escape the closing quote on a
    /// server with standard_conforming_strings off.
    /// </summary>
    public static string Literal(string value)
    {
        if (value.Contains('\0'))
            throw new ArgumentException("A literal cannot contain a NUL character.", nameof(value));
        var quoted = "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";
        return value.Contains('\\') ? "E" + quoted.Replace("\\", "\\\\", StringComparison.Ordinal) : quoted;
    }

    public static string List(IEnumerable<string> names) => string.Join(", ", names.Select(Ident));

    public static string List(IEnumerable<string> names, string alias) =>
        string.Join(", ", names.Select(n => alias + "." + Ident(n)));
}
