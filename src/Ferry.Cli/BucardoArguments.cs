using Ferry.Postgres;

namespace Ferry.Cli;

/// <summary>
/// Bucardo's grammar: positional words and <c>key=value</c> pairs, in any order. <c>--key=value</c> and
/// <c>--key value</c> are accepted too, since Bucardo's own scripts mix them. Keys are case-insensitive.
/// </summary>
public sealed class BucardoArguments
{
    private readonly Dictionary<string, string> _pairs = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _used = new(StringComparer.OrdinalIgnoreCase);

    public BucardoArguments(IEnumerable<string> tokens)
    {
        var list = tokens.ToList();
        for (var i = 0; i < list.Count; i++)
        {
            var token = list[i];
            var dashed = token.StartsWith("--", StringComparison.Ordinal);
            var body = dashed ? token[2..] : token;
            var eq = body.IndexOf('=', StringComparison.Ordinal);
            // A libpq URI's query has '=' in it, yet the URI is one word: `add database NAME postgresql://…?sslmode=require`.
            if (!dashed && ConnectionUri.IsUri(token))
            {
                Words.Add(token);
            }
            else if (eq > 0)
            {
                Set(body[..eq], body[(eq + 1)..]);
            }
            else if (dashed && i + 1 < list.Count && !list[i + 1].Contains('=', StringComparison.Ordinal)
                     && !list[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                Set(body, list[++i]);
            }
            else if (dashed)
            {
                Set(body, "1");
            }
            else
            {
                Words.Add(token);
            }
        }
    }

    public List<string> Words { get; } = [];

    public IReadOnlyDictionary<string, string> Pairs => _pairs;

    /// <summary>The first of the given keys that is present (its aliases), marking all of them as understood.</summary>
    public string? Get(params string[] keys)
    {
        foreach (var k in keys) _used.Add(k);
        foreach (var k in keys)
            if (_pairs.TryGetValue(k, out var v))
                return v;
        return null;
    }

    /// <summary>Refuses keys no one asked for: a typo must not be silently ignored.</summary>
    public void RejectUnknown(string verb, IEnumerable<string>? extraKnown = null)
    {
        var known = new HashSet<string>(_used, StringComparer.OrdinalIgnoreCase);
        if (extraKnown is not null) known.UnionWith(extraKnown);
        var unknown = _pairs.Keys.Where(k => !known.Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new UsageException(
                $"Unknown option{(unknown.Count > 1 ? "s" : "")} for '{verb}': {string.Join(", ", unknown)}. " +
                (known.Count == 0 ? $"'{verb}' takes none." : $"Known: {string.Join(", ", known.Order(StringComparer.Ordinal))}."));
    }

    /// <summary>Refuses words left over once a verb has taken what it understands: a stray word is a mistake too.</summary>
    public void RejectWords(string usage)
    {
        if (Words.Count > 0)
            throw new UsageException($"Unexpected '{string.Join(" ", Words)}'. Usage: {usage}");
    }

    private void Set(string key, string value)
    {
        if (key.Length == 0) throw new UsageException("An option has an empty name: write key=value.");
        if (_pairs.ContainsKey(key)) throw new UsageException($"Option '{key}' is given twice.");
        _pairs[key] = value;
    }
}

/// <summary>The command line itself is wrong; exit code 2, with what to type instead.</summary>
public sealed class UsageException(string message) : Exception(message);
