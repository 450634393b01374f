using Ferry.Capture;
using Ferry.Install;
using Ferry.Postgres;

namespace Ferry.Copy;

/// <summary>
/// The SQL that copies one table in slices of keys: (after, upto], with no lower bound for the first slice and no
/// upper bound for the last. Bounds travel as transaction-local settings (<c>ferry.copy_after</c>,
/// <c>ferry.copy_upto</c>), key values as text cast back to each key column's type, because COPY takes no
/// parameters and values are never spliced into SQL. A key lies in exactly one slice, so a slice can be copied
/// straight (COPY, no upsert) whatever happened between slices.
/// </summary>
public sealed class CopySlices
{
    private readonly TableShape _shape;
    private readonly string _table;
    private readonly string _keys;

    public CopySlices(TableShape shape)
    {
        _shape = shape;
        _table = Quote.Qualified(shape.Name);
        _keys = Quote.List(shape.Key);
        Columns = Quote.List(shape.Columns.Select(c => c.Name));
        Format = shape.CanCopyBinary ? "(FORMAT binary)" : "(FORMAT text)";
        RowVersions = new CaptureNames(shape.Name).RowVersions;
    }

    public string Columns { get; }

    public string Format { get; }

    public string RowVersions { get; }

    /// <summary>Sets the slice's bounds for the statements that follow in the transaction: $1 after, $2 upto (NULL: none).</summary>
    public const string SetBounds =
        "SELECT set_config('ferry.copy_after', coalesce($1::text[]::text, ''), true), set_config('ferry.copy_upto', coalesce($2::text[]::text, ''), true)";

    /// <summary>
    /// Finds the key that ends a slice of $1 rows after the lower bound (set before, in the same transaction) and sets it
    /// as the upper bound; returns it as text, NULL when fewer are left (the last slice, which has no upper bound).
    /// </summary>
    public string SetUpperBound(bool after) => $"""
        WITH b AS MATERIALIZED (
            SELECT ARRAY[{string.Join(", ", _shape.Key.Select(k => $"{Quote.Ident(k)}::text"))}] AS upto
            FROM {_table} AS a {Where("a", after, false)}
            ORDER BY {_keys} OFFSET $1 - 1 LIMIT 1)
        SELECT (SELECT upto FROM b), set_config('ferry.copy_upto', coalesce((SELECT upto FROM b)::text, ''), true)
        """;

    /// <summary>The slice's rows, the table's columns in order.</summary>
    public string CopyOut(bool after, bool upto) =>
        $"COPY (SELECT {Columns} FROM {_table} AS a {Where("a", after, upto)}) TO STDOUT {Format}";

    /// <summary>The slice's row versions at the source, with the source's name for its own changes.</summary>
    public string CopyVersionsOut(bool after, bool upto, string sourceName) =>
        $"COPY (SELECT {_keys}, ferry_version, coalesce(ferry_origin, {Quote.Literal(sourceName)}), ferry_based_on " +
        $"FROM {RowVersions} AS a {Where("a", after, upto)}) TO STDOUT (FORMAT text)";

    /// <summary>The target's row versions in the slice that the source has not (in <paramref name="temp"/>): they go.</summary>
    public string DropVersions(bool after, bool upto, string temp)
    {
        var match = string.Join(" AND ", _shape.Key.Select(k => $"c.{Quote.Ident(k)} = a.{Quote.Ident(k)}"));
        var where = Where("a", after, upto);
        return $"DELETE FROM {RowVersions} AS a {(where.Length == 0 ? "WHERE" : where + " AND")} " +
               $"NOT EXISTS (SELECT 1 FROM {temp} AS c WHERE {match})";
    }

    private string Where(string alias, bool after, bool upto)
    {
        var keys = "(" + Quote.List(_shape.Key, alias) + ")";
        string Bound(string setting) => "(" + string.Join(", ", _shape.KeyColumns.Select((k, n) =>
            $"(SELECT (current_setting('{setting}')::text[])[{n + 1}]::{k.Type})")) + ")";
        var parts = new List<string>();
        if (after) parts.Add($"{keys} > {Bound("ferry.copy_after")}");
        if (upto) parts.Add($"{keys} <= {Bound("ferry.copy_upto")}");
        return parts.Count == 0 ? "" : "WHERE " + string.Join(" AND ", parts);
    }
}
