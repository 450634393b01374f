using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace Ferry;

/// <summary>Reads the .sql files embedded in this assembly: SQL is source, kept readable on its own.</summary>
internal static partial class SqlResources
{
    public static string Read(string fileName)
    {
        var name = "Ferry.Sql." + fileName;
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"Embedded SQL '{name}' is missing from the build.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>
    /// Fills <c>{{name}}</c> placeholders; every value must already be quoted by <see cref="Postgres.Quote"/>.
    /// One pass over the template: what a value inserts is never read again, so a table named <c>{{key_cols}}</c>
    /// stays a name. The template's dollar-quote tags (<c>$fn$</c>, <c>$do$</c>) are renamed, where needed, to
    /// tags that occur nowhere in the inserted values, so a name containing <c>$fn$</c> cannot close a body.
    /// Placeholders in <c>--</c> comments stay as written: a name with a newline would end the comment.
    /// </summary>
    public static string Fill(string template, IReadOnlyDictionary<string, string> values)
    {
        var tokens = Token().Matches(template).Where(m => !InComment(template, m.Index)).ToList();
        var unknown = tokens.Select(m => m.Groups[1].Value).Where(n => !values.ContainsKey(n)).Distinct().ToList();
        if (unknown.Count > 0)
            throw new InvalidOperationException($"No value for placeholder(s) {string.Join(", ", unknown.Select(n => "{{" + n + "}}"))}.");
        var tags = DollarTag().Matches(Token().Replace(template, "\n")).Select(m => m.Value).Distinct(StringComparer.Ordinal).ToList();
        for (var attempt = 0; ; attempt++)
        {
            // Attempt 0 keeps the template's own tags: the usual case, and the same text as ever.
            var renamed = tags.ToDictionary(t => t, t => attempt == 0 ? t : "$" + t.Trim('$') + "_" + attempt + "$",
                StringComparer.Ordinal);
            var text = new StringBuilder();
            var placed = new List<int>();
            var at = 0;
            foreach (var m in tokens)
            {
                Retag(text, template[at..m.Index], renamed, placed);
                text.Append(values[m.Groups[1].Value]);
                at = m.Index + m.Length;
            }
            Retag(text, template[at..], renamed, placed);
            var filled = text.ToString();
            // A tag may begin only where the template put one: not inside a value, nor across a value's edge.
            var found = renamed.Values.Distinct(StringComparer.Ordinal).SelectMany(t => Occurrences(filled, t));
            if (found.Order().SequenceEqual(placed.Order())) return filled;
        }
    }

    /// <summary>Whether a <c>--</c> comment runs at <paramref name="index"/> (ferry's templates have no <c>--</c> in literals).</summary>
    private static bool InComment(string template, int index)
    {
        var lineStart = template.LastIndexOf('\n', Math.Max(0, index - 1)) + 1;
        return template.AsSpan(lineStart, index - lineStart).Contains("--", StringComparison.Ordinal);
    }

    private static void Retag(StringBuilder text, string literal, Dictionary<string, string> renamed, List<int> placed)
    {
        var at = 0;
        foreach (Match m in DollarTag().Matches(literal))
        {
            text.Append(literal, at, m.Index - at);
            placed.Add(text.Length);
            text.Append(renamed[m.Value]);
            at = m.Index + m.Length;
        }
        text.Append(literal, at, literal.Length - at);
    }

    /// <summary>Every start of <paramref name="tag"/>, overlapping ones too.</summary>
    private static IEnumerable<int> Occurrences(string text, string tag)
    {
        for (var i = text.IndexOf(tag, StringComparison.Ordinal); i >= 0; i = text.IndexOf(tag, i + 1, StringComparison.Ordinal))
            yield return i;
    }

    [GeneratedRegex(@"\{\{([A-Za-z0-9_]+)\}\}")]
    private static partial Regex Token();

    /// <summary>A dollar-quote tag: <c>$$</c> or <c>$name$</c> (parameters such as <c>$1</c> have no closing dollar).</summary>
    [GeneratedRegex(@"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")]
    private static partial Regex DollarTag();
}
