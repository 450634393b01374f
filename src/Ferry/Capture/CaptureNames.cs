using System.Security.Cryptography;
using System.Text;
using Ferry.Postgres;

namespace Ferry.Capture;

/// <summary>
/// Names of the objects ferry creates for one table in schema <c>ferry</c>. Readable (they start with the table's
/// name) yet unique and within PostgreSQL's 63-byte limit: <c>"a_b"."c"</c> and <c>"a"."b_c"</c> differ by hash.
/// </summary>
public sealed record CaptureNames(TableName Table)
{
    /// <summary>The part every name below shares after its prefix; a table rename renames each object from it.</summary>
    public string Base { get; } = BaseName(Table);

    public string RowVersions => Quote.Qualified(Defaults.Schema, "rv_" + Base);

    public string RowVersionsXidIndex => Quote.Ident("rv_" + Base + "_xid");

    /// <summary>The change log the application's small writes append to, until the relay folds it.</summary>
    public string Log => Quote.Qualified(Defaults.Schema, "log_" + Base);

    /// <summary>The function that folds the change log into the row versions.</summary>
    public string Fold => Quote.Qualified(Defaults.Schema, "fold_" + Base);

    public string Function => Quote.Qualified(Defaults.Schema, "capture_" + Base);

    public string TruncateFunction => Quote.Qualified(Defaults.Schema, "capture_truncate_" + Base);

    /// <summary>
    /// The <c>ferry.meta</c> key of the xid below which the table's tombstones may have been purged: a pair whose
    /// position does not cover it missed deletes.
    /// </summary>
    public string PurgedBelowKey => "tombstones_purged_below " + Quote.Qualified(Table);

    private static string BaseName(TableName t)
    {
        var full = t.Schema + "_" + t.Name;
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(t.Schema + "\0" + t.Name)))[..8];
        var prefix = new StringBuilder();
        foreach (var rune in full.EnumerateRunes())
        {
            if (Encoding.UTF8.GetByteCount(prefix.ToString() + rune) > 32) break;
            prefix.Append(rune.ToString());
        }
        return prefix + "_" + hash;
    }
}
