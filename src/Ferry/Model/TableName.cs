namespace Ferry;

/// <summary>A table's (or a sequence's) schema and name, unquoted, exactly as in <c>pg_class</c>.</summary>
public sealed record TableName(string Schema, string Name) : IComparable<TableName>
{
    /// <summary>
    /// Parses what a user types: <c>orders</c>, <c>public.orders</c>, <c>"My Schema"."Order Lines"</c>.
    /// Unquoted parts fold to lower case, as PostgreSQL folds them.
    /// </summary>
    /// <param name="kind">what the name is of, for the error message: "table" or "sequence"</param>
    public static TableName Parse(string text, string defaultSchema = "public", string kind = "table")
    {
        var parts = new List<string>();
        var i = 0;
        while (i < text.Length)
        {
            if (text[i] == '"')
            {
                var sb = new System.Text.StringBuilder();
                i++;
                while (true)
                {
                    if (i >= text.Length) throw new FormatException($"Unterminated quoted name in '{text}'.");
                    if (text[i] == '"')
                    {
                        if (i + 1 < text.Length && text[i + 1] == '"') { sb.Append('"'); i += 2; continue; }
                        i++;
                        break;
                    }
                    sb.Append(text[i++]);
                }
                parts.Add(sb.ToString());
            }
            else
            {
                var end = text.IndexOf('.', i);
                if (end < 0) end = text.Length;
                var part = text[i..end].Trim();
                if (part.Length == 0) throw new FormatException($"Empty name part in '{text}'.");
                parts.Add(part.ToLowerInvariant());
                i = end;
            }
            if (i < text.Length)
            {
                if (text[i] != '.') throw new FormatException($"Unexpected '{text[i]}' in {kind} name '{text}'.");
                i++;
            }
        }
        return parts.Count switch
        {
            1 => new TableName(defaultSchema, parts[0]),
            2 => new TableName(parts[0], parts[1]),
            _ => throw new FormatException($"'{text}' is not a {kind} name: write {kind} or schema.{kind}."),
        };
    }

    public int CompareTo(TableName? other) =>
        other is null ? 1 : (string.CompareOrdinal(Schema, other.Schema) is var c && c != 0 ? c : string.CompareOrdinal(Name, other.Name));

    /// <summary>The quoted form, ready for SQL and unambiguous for people.</summary>
    public override string ToString() => Postgres.Quote.Qualified(Schema, Name);
}
