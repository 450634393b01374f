using Ferry.Install;
using Ferry.Postgres;

namespace Ferry.Apply;

/// <summary>
/// Ferry's own columns of a table's temporary table, beside the table's columns: each named with a prefix that no
/// column of the table starts with (<c>ferry_</c>, or <c>ferry__</c> and so on when the table has columns starting
/// with it), so no user column can share a name with one of them, whatever the user called it.
/// <para>
/// The rest of the scheme that keeps ferry's SQL clear of user names: every column reference is qualified by a
/// table alias (<c>i.x</c>, never <c>x</c>: PostgreSQL reads a qualified name as the alias's column first, an
/// unqualified one as a column of any table in scope), whole rows are written <c>i.*</c> (a bare <c>i</c> names a
/// column <c>i</c> if there is one), and the key columns that ferry's row-version tables and change logs hold
/// beside their own <c>ferry_</c> columns may not start with <c>ferry_</c> (<see cref="ShapeCheck.KeyProblem"/>).
/// </para>
/// </summary>
public sealed class TempColumns
{
    public TempColumns(TableShape shape)
    {
        var prefix = "ferry_";
        while (shape.Columns.Any(c => c.Name.StartsWith(prefix, StringComparison.Ordinal))) prefix += "_";
        Names = Suffixes.Select(s => prefix + s).ToArray();
    }

    private static readonly string[] Suffixes =
        ["version", "origin", "based_on", "deleted", "l_version", "l_origin", "conflict", "rule_win", "win"];

    /// <summary>Every one of them, unquoted: what a row image leaves out.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>The incoming entry's version, origin, based_on and whether it is a delete: what the COPY brings.</summary>
    public string Version => Quote.Ident(Names[0]);

    public string Origin => Quote.Ident(Names[1]);

    public string BasedOn => Quote.Ident(Names[2]);

    public string Deleted => Quote.Ident(Names[3]);

    /// <summary>The target's own entry: its version and origin, NULL when it has none.</summary>
    public string LocalVersion => Quote.Ident(Names[4]);

    public string LocalOrigin => Quote.Ident(Names[5]);

    /// <summary>The decision: a conflict, whether the rule picks the incoming entry, whether it is applied.</summary>
    public string Conflict => Quote.Ident(Names[6]);

    public string RuleWin => Quote.Ident(Names[7]);

    public string Win => Quote.Ident(Names[8]);

    /// <summary>The four that arrive with each row, in the order the read sends them.</summary>
    public string Incoming => $"{Version}, {Origin}, {BasedOn}, {Deleted}";

    /// <summary>A text[] literal of <see cref="Names"/>, for <c>to_jsonb(i.*) - …</c>.</summary>
    public string NamesArray => "ARRAY[" + string.Join(", ", Names.Select(Quote.Literal)) + "]::text[]";
}
