using System.Globalization;

namespace Ferry.Read;

/// <summary>The parts of a <c>pg_snapshot</c> text (xmin:xmax:xip,...) that ferry reasons about.</summary>
public readonly record struct PgSnapshot(ulong Xmin, ulong Xmax)
{
    public static PgSnapshot Parse(string text)
    {
        var parts = text.Split(':');
        if (parts.Length != 3) throw new FormatException($"'{text}' is not a pg_snapshot.");
        return new PgSnapshot(ulong.Parse(parts[0], CultureInfo.InvariantCulture), ulong.Parse(parts[1], CultureInfo.InvariantCulture));
    }
}
