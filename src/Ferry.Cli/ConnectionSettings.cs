using System.Globalization;

namespace Ferry.Cli;

/// <summary>
/// Checks connection keys when they are typed, so a typo is a usage error now, naming the key and the values it
/// takes, rather than a driver exception (or a silently ignored value) later, in the relay.
/// </summary>
public static class ConnectionSettings
{
    private static readonly Dictionary<string, string[]> Choices = new()
    {
        ["sslmode"] = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
        ["channel_binding"] = ["disable", "prefer", "require"],
        ["capture"] = ["trigger", "wal"],
        ["target_session_attrs"] = ["any", "read-write", "read-only", "primary", "standby", "prefer-primary", "prefer-standby"],
    };

    /// <summary>Npgsql's limit for a connect timeout (NpgsqlConnection.TimeoutLimit); over a quarter hour a link is dead anyway.</summary>
    public const int MaxConnectTimeout = 1024;

    public static void Validate(IReadOnlyDictionary<string, string> settings)
    {
        if (settings.GetValueOrDefault("port") is { } port
            && (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p is < 1 or > 65535))
            throw new UsageException($"port must be a number from 1 to 65535, not '{port}'.");
        if (settings.GetValueOrDefault("connect_timeout") is { } timeout
            && (!int.TryParse(timeout, NumberStyles.None, CultureInfo.InvariantCulture, out var t) || t is < 1 or > MaxConnectTimeout))
            throw new UsageException($"connect_timeout is a number of seconds from 1 to {MaxConnectTimeout}, not '{timeout}'.");
        foreach (var (key, allowed) in Choices)
            if (settings.GetValueOrDefault(key) is { } value && !allowed.Contains(value, StringComparer.OrdinalIgnoreCase))
                throw new UsageException($"{key} must be one of {string.Join(", ", allowed)}, not '{value}'.");
        // Ferry pins its search_path to pg_catalog (Postgres/Connect.cs says why); the pin wins anyway, but a
        // setting that is silently overridden is worse than a refusal.
        if (settings.GetValueOrDefault("options") is { } options && options.Contains("search_path", StringComparison.OrdinalIgnoreCase))
            throw new UsageException("options= may not set search_path: ferry's connections use pg_catalog only and name " +
                                     "everything else by schema. Leave search_path out of options.");
        foreach (var key in new[] { "dbname", "host", "user" })
            if (settings.GetValueOrDefault(key) is { Length: 0 })
                throw new UsageException($"{key} is empty: write {key}=VALUE, or leave it out for the default.");
    }
}
