using Ferry.Postgres;

namespace Ferry.ControlStore;

/// <summary>
/// Which control store a command opens: the SQLite file of <c>$FERRY_HOME</c> (the default), or a schema in a
/// PostgreSQL database, named by <c>FERRY_STORE</c> or by the pointer file <see cref="PointerName"/> that
/// <c>ferry install dbname=…</c> writes beside where <c>ferry.db</c> would be. Several relay hosts can then share
/// one store.
/// </summary>
public sealed class StoreAddress
{
    public const string DefaultSchema = "ferry_control";

    /// <summary>The pointer file in <c>$FERRY_HOME</c>: the store's connection keys, one <c>key=value</c> a line.</summary>
    public const string PointerName = "store.conf";

    /// <summary>
    /// The comment on the control schema: table discovery (<c>add all tables</c>) skips a schema that carries it, since
    /// the store may live in a replicated database and its tables are no application's.
    /// </summary>
    public const string SchemaComment = "ferry control store";

    private StoreAddress(string? file, Database? server, string schema, string from)
    {
        File = file;
        Server = server;
        Schema = schema;
        From = from;
    }

    /// <summary>The SQLite file, or null on PostgreSQL.</summary>
    public string? File { get; }

    /// <summary>The PostgreSQL database's connection keys (and a password only if one was given), or null on SQLite.</summary>
    public Database? Server { get; }

    public string Schema { get; }

    /// <summary>Where the address came from, for messages: the pointer file, FERRY_STORE, or the command line.</summary>
    public string From { get; }

    public bool IsPostgres => Server is not null;

    public static StoreAddress Sqlite(string path) => new(path, null, DefaultSchema, path);

    public static StoreAddress Postgres(IReadOnlyDictionary<string, string> settings, string? password, string? schema, string from)
    {
        if (schema is { Length: 0 }) throw new FormatException("schema= is empty: write schema=NAME, or leave it out for ferry_control.");
        return new StoreAddress(null, new Database("control store", settings, password), schema ?? DefaultSchema, from);
    }

    /// <summary>Names the store for people: never a password.</summary>
    public string Describe() => Server is { } s
        ? $"PostgreSQL {s.User}@{s.Host}:{s.Port}/{s.DbName}, schema {Schema}"
        : $"SQLite {File}";

    /// <summary>
    /// The store behind <paramref name="sqlitePath"/>: when it is the home's <c>ferry.db</c> and FERRY_STORE is set, that
    /// one; else the one the pointer file beside it names; else the file itself. Every command opens the home's store
    /// through here, so none of them needs to know which kind it is.
    /// </summary>
    public static StoreAddress For(string sqlitePath)
    {
        var full = System.IO.Path.GetFullPath(sqlitePath);
        if (full == System.IO.Path.GetFullPath(Defaults.StorePath) && Defaults.StoreSetting is { } setting) return setting;
        var pointer = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(full)!, PointerName);
        return System.IO.File.Exists(pointer) ? Parse(System.IO.File.ReadAllText(pointer), pointer) : Sqlite(sqlitePath);
    }

    /// <summary>
    /// A libpq URI (<c>postgresql://user@host:port/dbname?schema=ferry_control</c>), or <c>key=value</c> words (one a
    /// line in the pointer file, where a value may hold spaces). Keys: those of <c>ferry add database</c>, and schema.
    /// </summary>
    public static StoreAddress Parse(string text, string from)
    {
        var trimmed = text.Trim();
        IEnumerable<(string Key, string Value)> keys;
        if (ConnectionUri.IsUri(trimmed))
        {
            keys = ConnectionUri.Parse(trimmed);
        }
        else
        {
            var lines = trimmed.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
            var words = lines.Count > 1 || text.Contains('\n', StringComparison.Ordinal)
                ? lines
                : trimmed.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).ToList();
            keys = words.Select(w => w.IndexOf('=', StringComparison.Ordinal) is var eq and > 0
                ? (w[..eq].Trim(), w[(eq + 1)..].Trim())
                : throw new FormatException($"'{(w.Length > 40 ? w[..40] + "…" : w)}' in {from} is not key=value."));
        }
        var settings = new Dictionary<string, string>();
        string? password = null, schema = null;
        foreach (var (key, value) in keys)
        {
            if (Connect.PasswordKeys.Contains(key)) password = value;
            else if (key.Equals("schema", StringComparison.OrdinalIgnoreCase)) schema = value;
            else if (Connect.KeyAliases.TryGetValue(key, out var canonical)) settings[canonical] = value;
            else throw new FormatException($"Unknown key '{key}' in {from}. Known: dbname, host, port, user, passfile, sslmode, " +
                                           "sslrootcert, sslcert, sslkey, connect_timeout, options, schema (and pass, discouraged).");
        }
        if (!settings.ContainsKey("dbname"))
            throw new FormatException($"{from} names no database: give dbname= (and host=, port=, user=) of the control store.");
        return Postgres(settings, password, schema, from);
    }

    /// <summary>The pointer file's text: every key but the password, unless <paramref name="withPassword"/>.</summary>
    public string PointerText(bool withPassword)
    {
        var server = Server ?? throw new InvalidOperationException("A SQLite store has no pointer file.");
        var lines = new List<string>
        {
            "# ferry's control store: every ferry command with this FERRY_HOME opens it (ferry install wrote this file).",
            "# A password is best kept out of here: ~/.pgpass, passfile=, PGPASSWORD or a service file.",
        };
        lines.AddRange(server.Settings.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => $"{k.Key}={k.Value}"));
        lines.Add($"schema={Schema}");
        if (withPassword && server.Password is not null) lines.Add($"pass={server.Password}");
        return string.Join('\n', lines) + "\n";
    }

    /// <summary>Whether two addresses name the same store (the password aside).</summary>
    public bool SameStore(StoreAddress other) =>
        File == other.File && Schema == other.Schema && (Server, other.Server) switch
        {
            (null, null) => true,
            ({ } a, { } b) => a.Settings.Count == b.Settings.Count
                              && a.Settings.All(k => b.Settings.TryGetValue(k.Key, out var v) && v == k.Value),
            _ => false,
        };
}
