using System.Reflection;

namespace Ferry;

/// <summary>Reads the .sql files embedded in this assembly: SQL is source, kept readable on its own.</summary>
internal static class SqlResources
{
    public static string Read(string fileName)
    {
        var name = "Ferry.Sql." + fileName;
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"Embedded SQL '{name}' is missing from the build.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Fills <c>{{name}}</c> placeholders; every value must already be quoted by <see cref="Postgres.Quote"/>.</summary>
    public static string Fill(string template, IReadOnlyDictionary<string, string> values)
    {
        var text = template;
        foreach (var (key, value) in values)
            text = text.Replace("{{" + key + "}}", value, StringComparison.Ordinal);
        var left = text.IndexOf("{{", StringComparison.Ordinal);
        if (left >= 0)
            throw new InvalidOperationException($"Unfilled placeholder near '{text.Substring(left, Math.Min(40, text.Length - left))}'.");
        return text;
    }
}
