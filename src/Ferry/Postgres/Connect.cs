using System.Collections.Concurrent;
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
        // Not a connection key: how the database's changes are captured (trigger, the default, or wal). Kept with the
        // keys so it travels with the database through add/update database and the store unchanged.
        ["capture"] = "capture",
    };

    /// <summary>Password keys: accepted, kept apart from the settings, never printed.</summary>
    public static readonly IReadOnlySet<string> PasswordKeys =
        new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "pass", "dbpass", "password" };

    /// <param name="deadLinkBound">
    /// The relay's connections: every wait fits in the dead-link bound D (FERRY_DEAD_LINK_SECONDS), so a stalled link
    /// fails its pair within D. When a command gets no answer, Npgsql first tries to cancel it over a second
    /// connection, which through a dead link costs up to twice the connect timeout; so opening waits D/4 and commands
    /// what is left, about D/2. Other connections (the CLI's DDL on a large table is slow, not dead) keep longer ones.
    /// </param>
    /// <param name="userSession">
    /// A session that runs the user's own statement as a role the user names (<c>ferry ddl</c>): it keeps that role's
    /// own search_path, since the statement names tables as the application does. Never for ferry's own SQL.
    /// </param>
    /// <param name="copySession">
    /// A one-time copy's session (Copy/OneTimeCopy): each end's transaction waits while the other works (a large slice's
    /// row versions, say), which is not a stuck transaction to end, so idle_in_transaction_session_timeout is off, set at
    /// startup, after the user's options=, rather than by a statement: on a long link every round trip counts against
    /// the windows between resets. Npgsql loads no types either (one round trip per process and connection string
    /// saved): the copy streams rows as COPY bytes and reads only built-in types.
    /// </param>
    public static NpgsqlConnectionStringBuilder Builder(Database db, string applicationName = "ferry", bool deadLinkBound = false,
        bool userSession = false, bool copySession = false)
    {
        var s = db.Settings;
        var b = new NpgsqlConnectionStringBuilder
        {
            Host = db.Host,
            Port = db.Port,
            Database = db.DbName,
            Username = db.User,
            ApplicationName = s.GetValueOrDefault("application_name") ?? applicationName,
            Timeout = TimeoutSeconds(db, deadLinkBound),
            CommandTimeout = deadLinkBound
                ? DeadLinkCommandSeconds
                : (int)Math.Max(5, Defaults.DeadLinkTimeout.TotalSeconds * 4),
            // Once the cancel request is sent, the answer is not waited for (2 s by default): the connection is
            // dropped at once. The server ends the statement by statement_timeout, or an abandoned transaction by
            // idle_in_transaction_session_timeout.
            CancellationTimeout = -1,
            Pooling = false,
            TcpKeepAlive = true,
            TcpKeepAliveTime = KeepAliveSeconds,
            TcpKeepAliveInterval = Math.Max(1, KeepAliveSeconds / 3),
            IncludeErrorDetail = true,
            // Nothing but pg_catalog: with the default "$user", public, a role that may create objects in public (every
            // role, before PostgreSQL 15; often the application's still) could define a function or operator that an
            // unqualified call of ferry's would resolve to (an exact argument-type match there beats pg_catalog's
            // function that needs a cast) and so run its code as ferry, or make compare hash nothing. Temporary tables
            // still resolve: pg_temp is searched first for relations whatever the path says. Sent as a startup
            // parameter, which the server applies after the -c switches of Options: a user's options= cannot undo it.
            SearchPath = userSession ? null : "pg_catalog",
            // Server side: a dead client is noticed by the backend too, and a stuck transaction ends.
            Options = $"-c tcp_user_timeout={(int)Defaults.DeadLinkTimeout.TotalMilliseconds} " +
                      $"-c idle_in_transaction_session_timeout={(int)Defaults.DeadLinkTimeout.TotalMilliseconds * 2} " +
                      // Text COPY and the chunk cursor carry values as text from one server to another: both ends
                      // must print and parse alike whatever each database's defaults ("01/05/2024" is a different
                      // day under DMY and MDY; "-1 2:03:04" a different interval under sql_standard; floats lose
                      // digits when extra_float_digits <= 0). Client options override database and role settings.
                      "-c DateStyle=ISO,MDY -c IntervalStyle=postgres -c extra_float_digits=3" +
                      (s.GetValueOrDefault("options") is { Length: > 0 } extra ? " " + extra : "") +
                      (copySession ? " -c idle_in_transaction_session_timeout=0" : ""),
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

    /// <summary>
    /// Seconds to wait for a connection to open: connect_timeout= if the user gave it (a slow link needs it), else
    /// FERRY_CONNECT_SECONDS, or for the relay's connections a quarter of the dead-link bound if that is less.
    /// </summary>
    public static int TimeoutSeconds(Database db, bool deadLinkBound = false) =>
        int.TryParse(db.Settings.GetValueOrDefault("connect_timeout"), out var s) ? s
            : deadLinkBound ? Math.Min((int)Defaults.ConnectTimeout.TotalSeconds, DeadLinkConnectSeconds)
            : (int)Defaults.ConnectTimeout.TotalSeconds;

    /// <summary>The relay's connect timeout: a quarter of the dead-link bound, whole seconds (Npgsql's unit), at least 1.</summary>
    private static int DeadLinkConnectSeconds => Math.Max(1, (int)(Defaults.DeadLinkTimeout.TotalSeconds / 4));

    /// <summary>
    /// How long the relay waits for a command's answer: what the dead-link bound leaves after the cancel attempt's
    /// two connect timeouts (see <see cref="Builder"/>), about half of it; at least 1 s.
    /// </summary>
    public static int DeadLinkCommandSeconds =>
        Math.Max(1, (int)Defaults.DeadLinkTimeout.TotalSeconds - 2 * DeadLinkConnectSeconds);

    /// <summary>
    /// How long an idle pair waits for its target's answer: the ping comes a quarter of the bound after the last
    /// contact, so it and its wait still fit in the bound.
    /// </summary>
    public static int IdleCommandSeconds =>
        Math.Max(1, DeadLinkCommandSeconds - (int)Math.Ceiling(Defaults.DeadLinkTimeout.TotalSeconds / 4));

    private static int KeepAliveSeconds => Math.Max(1, (int)(Defaults.DeadLinkTimeout.TotalSeconds / 3));

    /// <summary>
    /// The copy's data sources, one per connection string for the life of the process (connections unpooled): Npgsql
    /// takes type-loading options only there.
    /// </summary>
    private static readonly ConcurrentDictionary<string, NpgsqlDataSource> CopySources = new(StringComparer.Ordinal);

    private static NpgsqlDataSource NoTypeLoading(string settings)
    {
        var builder = new NpgsqlDataSourceBuilder(settings);
        builder.ConfigureTypeLoading(t => t.EnableTypeLoading(false));
        return builder.Build();
    }

    /// <summary>Opens a connection, turning the failures people meet into messages that say what to do.</summary>
    public static async Task<NpgsqlConnection> OpenAsync(Database db, CancellationToken ct, string applicationName = "ferry",
        bool deadLinkBound = false, bool userSession = false, bool copySession = false)
    {
        var settings = Builder(db, applicationName, deadLinkBound, userSession, copySession).ToString();
        var connection = copySession ? CopySources.GetOrAdd(settings, NoTypeLoading).CreateConnection() : new NpgsqlConnection(settings);
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
