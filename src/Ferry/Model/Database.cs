namespace Ferry;

/// <summary>
/// One PostgreSQL database ferry connects to, as the user added it. <see cref="Settings"/> holds libpq-style
/// connection keys (host, port, dbname, user, sslmode, ...); the password lives apart so nothing that prints a
/// database can print it.
/// </summary>
public sealed record Database(string Name, IReadOnlyDictionary<string, string> Settings, string? Password)
{
    public string DbName => Settings.GetValueOrDefault("dbname") ?? Settings.GetValueOrDefault("user") ?? "postgres";

    public string Host => Settings.GetValueOrDefault("host") ?? "localhost";

    public int Port => int.TryParse(Settings.GetValueOrDefault("port"), out var p) ? p : 5432;

    public string User => Settings.GetValueOrDefault("user") ?? Environment.UserName;

    /// <summary>
    /// capture=wal: the relay reads the database's changes from a logical replication slot (Capture/Wal) into the change
    /// logs the triggers fill otherwise; no capture triggers are installed there. Default: capture=trigger.
    /// </summary>
    public bool CapturesWal => string.Equals(Settings.GetValueOrDefault("capture"), "wal", StringComparison.OrdinalIgnoreCase);

    /// <summary>Where the database is, for messages: never the password.</summary>
    public string Describe() => $"{Name} ({User}@{Host}:{Port}/{DbName})";
}
