using System.Globalization;
using System.Net;

namespace Ferry;

/// <summary>
/// Reads FERRY_* variables strictly. A value that does not parse, or lies outside its range, is an error that names
/// the variable, the value and what it may be: replacing it with the default would run the relay with a setting the
/// operator did not choose and never learn it (FERRY_CHUNK_ROWS=99999999999999 meant 100,000).
/// </summary>
public static class Settings
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> Names = new(StringComparer.Ordinal);

    /// <summary>Every variable a setting has been read from: after <see cref="Defaults.Check"/>, all of ferry's.</summary>
    public static IEnumerable<string> Known => Names.Keys;

    /// <summary>The value of <paramref name="variable"/>, or null when it is unset or empty (empty means unset).</summary>
    private static string? Raw(string variable) => Text(variable)?.Trim();

    /// <summary>The value as it is (a path), or null when unset or empty: the environment's, else ferry.conf's.</summary>
    public static string? Text(string variable)
    {
        Names.TryAdd(variable, true);
        if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } v) return v;
        // FERRY_HOME says where the file is, so the file cannot say it.
        return variable != "FERRY_HOME" && ConfigFile.Find(variable) is { Value.Length: > 0 } entry ? entry.Value : null;
    }

    /// <param name="fallbackMeans">what the default does, when its number alone does not say</param>
    public static int Int(string variable, int fallback, int min, int max, string? fallbackMeans = null) =>
        (int)Long(variable, fallback, min, max, fallbackMeans);

    public static long Long(string variable, long fallback, long min, long max, string? fallbackMeans = null)
    {
        if (Raw(variable) is not { } raw) return fallback;
        var text = raw.Replace("_", "", StringComparison.Ordinal);
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max)
            return v;
        throw Bad(variable, raw, $"a whole number from {N(min)} to {N(max)} (default {N(fallback)}{(fallbackMeans is null ? "" : ": " + fallbackMeans)})");
    }

    public static TimeSpan Seconds(string variable, double fallback, double min, double max)
    {
        if (Raw(variable) is not { } raw) return TimeSpan.FromSeconds(fallback);
        if (double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) && v >= min && v <= max)
            return TimeSpan.FromSeconds(v);
        throw Bad(variable, raw, $"a number of seconds from {N(min)} to {N(max)} (default {N(fallback)})");
    }

    public static string Choice(string variable, string fallback, params string[] allowed)
    {
        if (Raw(variable) is not { } raw) return fallback;
        return allowed.FirstOrDefault(a => a.Equals(raw, StringComparison.OrdinalIgnoreCase))
               ?? throw Bad(variable, raw, $"one of {string.Join(", ", allowed)} (default {fallback})");
    }

    /// <summary>
    /// An address to listen on: IPv4; :: is taken as every address, which the listener serves on IPv4 only. .NET's HttpListener on Linux cannot parse a prefix with
    /// an IPv6 literal ("Invalid port in prefix"), so a single IPv6 address is refused here rather than at start.
    /// </summary>
    public static IPAddress Address(string variable, string fallback)
    {
        var raw = Raw(variable);
        if (IPAddress.TryParse(raw ?? fallback, out var address)
            && (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork || address.Equals(IPAddress.IPv6Any)))
            return address;
        throw Bad(variable, raw!, "an IPv4 address of this host to listen on, such as 127.0.0.1 (the default, this host only), " +
                                  "or 0.0.0.0 (every IPv4 address; :: means the same); IPv6 is not supported");
    }

    /// <summary>
    /// Connection keys (a libpq URI or key=value words), read by <paramref name="parse"/>, which says what is wrong
    /// with a <see cref="FormatException"/>. The value itself is never repeated: it may hold a password.
    /// </summary>
    public static T? Connection<T>(string variable, Func<string, T> parse) where T : class
    {
        if (Raw(variable) is not { } raw) return null;
        try
        {
            return parse(raw);
        }
        catch (FormatException e)
        {
            throw new SettingException($"{variable} is not a valid setting: {e.Message.TrimEnd('.')}. It must be a libpq URI " +
                                       "(postgresql://user@host:5432/dbname?schema=ferry_control) or key=value words " +
                                       "(host=... port=... dbname=... user=...). Correct it or unset it.");
        }
    }

    private static SettingException Bad(string variable, string value, string allowed) =>
        Environment.GetEnvironmentVariable(variable) is not { Length: > 0 } && ConfigFile.Find(variable) is { } entry
            ? new($"{variable}={value} in {ConfigFile.Path} line {entry.Line} is not a valid setting: it must be {allowed}. " +
                  "Correct it or remove the line.")
            : new($"{variable}={value} is not a valid setting: it must be {allowed}. Correct it or unset it.");

    private static string N(double v) => v.ToString("#,0.###", CultureInfo.InvariantCulture);
}

/// <summary>A FERRY_* variable with a value ferry refuses to guess about: a usage error, like a bad command line.</summary>
public sealed class SettingException(string message) : Exception(message);
