using Npgsql;

namespace Ferry.Postgres;

/// <summary>
/// Every connection ferry opens goes through here, so every one carries the same defences against a link that
/// fails silently: TCP keepalives on our side, <c>tcp_user_timeout</c> and <c>idle_in_transaction_session_timeout</c>
/// on the server's side (a backend whose relay vanished releases its locks), and command timeouts.
/// </summary>
public static class Connect
{
    /// <summary>The keys a user may give to <c>ferry add database</c>, Bucardo's spellings mapped to ours.</summary>
    public static readonly IReadOnlyDictionary<string, string> KeyAliases = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["dbname"] = "dbname", ["db"] = "dbname", ["database"] = "dbname",
        ["host"] = "host", ["dbhost"] = "host", ["hostaddr"] = "host",
        ["port"] = "port", ["dbport"] = "port",
        ["user"] = "user", ["dbuser"] = "user", ["username"] = "user",
        ["sslmode"] = "sslmode", ["sslrootcert"] = "sslrootcert", ["sslcert"] = "sslcert", ["sslkey"] = "sslkey",
        ["sslpassword"] = "sslpassword",
        ["passfile"] = "passfile", ["dbpassfile"] = "passfile",
        ["connect_timeout"] = "connect_timeout", ["application_name"] = "application_name",
        ["target_session_attrs"] = "target_session_attrs", ["options"] = "options",
        ["channel_binding"] = "channel_binding",
    };

    /// <summary>Password keys: accepted, kept apart from the settings, never printed.</summary>
    public static readonly IReadOnlySet<string> PasswordKeys =
        new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "pass", "dbpass", "password" };

    public static NpgsqlConnectionStringBuilder Builder(Database db, string applicationName = "ferry")
    {
        var s = db.Settings;
        var b = new NpgsqlConnectionStringBuilder
        {
            Host = db.Host,
            Port = db.Port,
            Database = db.DbName,
            Username = db.User,
            ApplicationName = s.GetValueOrDefault("application_name") ?? applicationName,
            Timeout = int.TryParse(s.GetValueOrDefault("connect_timeout"), out var ct) ? ct : (int)Defaults.ConnectTimeout.TotalSeconds,
            CommandTimeout = (int)Math.Max(5, Defaults.DeadLinkTimeout.TotalSeconds * 4),
            Pooling = false,
            TcpKeepAlive = true,
            TcpKeepAliveTime = KeepAliveSeconds,
            TcpKeepAliveInterval = Math.Max(1, KeepAliveSeconds / 3),
            IncludeErrorDetail = true,
            // Server side: a dead client is noticed by the backend too, and a stuck transaction ends.
            Options = $"-c tcp_user_timeout={(int)Defaults.DeadLinkTimeout.TotalMilliseconds} " +
                      $"-c idle_in_transaction_session_timeout={(int)Defaults.DeadLinkTimeout.TotalMilliseconds * 2}" +
                      (s.GetValueOrDefault("options") is { Length: > 0 } extra ? " " + extra : ""),
        };
        if (db.Password is not null) b.Password = db.Password;
        if (s.GetValueOrDefault("passfile") is { } passfile) b.Passfile = passfile;
        if (s.GetValueOrDefault("sslmode") is { } sslmode)
            b.SslMode = Enum.TryParse<SslMode>(sslmode.Replace("-", "", StringComparison.Ordinal), true, out var m)
                ? m
                : throw new FerryException($"Unknown sslmode '{sslmode}': use disable, allow, prefer, require, verify-ca or verify-full.");
        if (s.GetValueOrDefault("sslrootcert") is { } root) b.RootCertificate = root;
        if (s.GetValueOrDefault("sslcert") is { } cert) b.SslCertificate = cert;
        if (s.GetValueOrDefault("sslkey") is { } key) b.SslKey = key;
        if (s.GetValueOrDefault("sslpassword") is { } sslPassword) b.SslPassword = sslPassword;
        if (s.GetValueOrDefault("target_session_attrs") is { } tsa)
            b.TargetSessionAttributes = tsa;
        if (s.GetValueOrDefault("channel_binding") is { } cb)
            b.ChannelBinding = Enum.Parse<ChannelBinding>(cb, true);
        return b;
    }

    private static int KeepAliveSeconds => Math.Max(1, (int)(Defaults.DeadLinkTimeout.TotalSeconds / 3));

    /// <summary>Opens a connection, turning the failures people meet into messages that say what to do.</summary>
    public static async Task<NpgsqlConnection> OpenAsync(Database db, CancellationToken ct, string applicationName = "ferry")
    {
        var connection = new NpgsqlConnection(Builder(db, applicationName).ToString());
        try
        {
            await connection.OpenAsync(ct);
            return connection;
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            await connection.DisposeAsync();
            throw new FerryException(PgErrors.Explain(db, e), e);
        }
    }
}
