namespace Ferry.Cli;

/// <summary>
/// `ferry help VERB` and `ferry VERB --help`: the verb's forms and every key it takes, one line each. Kept beside the
/// verbs' own parsing by a test (HelpTests) that asks each verb's help for the keys it accepts.
/// </summary>
public static class VerbHelp
{
    private sealed record Entry(string[] Usage, (string Key, string Says)[] Keys);

    private static readonly (string, string)[] DatabaseKeys =
    [
        ("dbname=D", "the database's name (Bucardo: db=)"),
        ("host=H", "server host or socket folder (Bucardo: dbhost=); default localhost"),
        ("port=P", "server port, 1 to 65535 (Bucardo: dbport=); default 5432"),
        ("user=U", "the role ferry connects as (Bucardo: dbuser=)"),
        ("pass=-", "read the password from standard input (pass=VALUE works, but shows in ps; Bucardo: dbpass=)"),
        ("passfile=F", "a libpq password file; else ~/.pgpass or PGPASSWORD"),
        ("sslmode=M", "disable, allow, prefer, require, verify-ca or verify-full"),
        ("sslrootcert=F", "CA certificate file"),
        ("sslcert=F", "client certificate file"),
        ("sslkey=F", "client key file"),
        ("sslpassword=S", "password of the client key"),
        ("channel_binding=M", "disable, prefer or require"),
        ("connect_timeout=S", "seconds to wait for a connection, 1 to 1024"),
        ("application_name=N", "shown in pg_stat_activity"),
        ("target_session_attrs=A", "any, read-write, read-only, primary, standby, prefer-primary or prefer-standby"),
        ("options=O", "server options (-c name=value); not search_path"),
        ("uri=URI", "a libpq URI, postgresql://user@host:port/db?sslmode=require (or the URI alone as a word)"),
        ("service=NAME", "a service of PGSERVICEFILE or ~/.pg_service.conf, read now; keys given beside it win"),
    ];

    private static readonly Dictionary<string, Entry> Verbs = new(StringComparer.OrdinalIgnoreCase)
    {
        ["install"] = new(["ferry install", "ferry install dbname=D host=H port=P user=U [passfile=F | pass=-] [schema=S]"],
            [.. DatabaseKeys, ("schema=S", "the PostgreSQL control store's schema; default ferry_control")]),
        ["store"] = new(["ferry store move dbname=D host=H port=P user=U [passfile=F | pass=-] [schema=S]"],
            [.. DatabaseKeys, ("schema=S", "the PostgreSQL control store's schema; default ferry_control")]),
        ["add"] = new(
            ["ferry add database NAME dbname=D host=H port=P user=U pass=- | ferry add database NAME postgresql://…",
             "ferry add dbgroup G db1:source db2:source db3:target",
             "ferry add herd H [TABLE …]", "ferry add table TABLE … herd=H [db=NAME] [conflict_strategy=RULE]",
             "ferry add all tables herd=H [db=NAME] [schema=S]", "ferry add sequence SEQ … herd=H [db=NAME]",
             "ferry add all sequences herd=H [db=NAME] [schema=S]",
             "ferry add sync S herd=H dbs=G [conflict_strategy=RULE] [status=active|inactive] [onetimecopy=0|1|2] [--quiet]"],
            [.. DatabaseKeys,
             ("herd=H", "the herd (Bucardo: relgroup=)"), ("db=NAME", "the database to read tables or sequences from; default the first added"),
             ("schema=S", "only this schema (add all …)"), ("tables=T1,T2", "add sync: a herd named after the sync, of these tables"),
             ("dbs=G", "add sync: a dbgroup, or DB:ROLE,… for one named after the sync"),
             ("conflict_strategy=RULE", "latest (default), source, skip or abort"), ("status=S", "add sync: active (default) or inactive"),
             ("onetimecopy=N", "add sync: 0 no copy, 1 replace the targets' rows, 2 fill only empty tables"),
             ("--quiet", "add sync: the copy's progress as a plain line every FERRY_PROGRESS_SECONDS, not a live one")]),
        ["list"] = new(["ferry list databases|dbgroups|herds|tables|sequences|syncs|all"], []),
        ["remove"] = new(["ferry remove database|dbgroup|herd|sync NAME …", "ferry remove table NAME [herd=H]"],
            [("herd=H", "remove table: from this herd only")]),
        ["rename"] = new(["ferry rename table OLD NEW"], []),
        ["update"] = new(["ferry update sync S [status=active|inactive] [conflict_strategy=RULE]", "ferry update database NAME key=value …"],
            [("status=S", "update sync: active or inactive (as resume, pause)"),
             ("conflict_strategy=RULE", "update sync: latest, source, skip or abort"),
             ("autokick=…", "update sync: Bucardo's knobs (autokick, checktime, stayalive, …) are accepted and change nothing"),
             .. DatabaseKeys,
             ("replaced=yes", "update database: accept another database at the address (then re-copy it: ferry copy)")]),
        ["pause"] = new(["ferry pause SYNC"], []),
        ["resume"] = new(["ferry resume SYNC"], []),
        ["validate"] = new(["ferry validate SYNC … | ferry validate all"], []),
        ["upgrade"] = new(["ferry upgrade"], []),
        ["status"] = new(["ferry status [SYNC …]"], []),
        ["kick"] = new(["ferry kick [SYNC …]"], []),
        ["start"] = new(["ferry start [--foreground] [reason …]"], [("--foreground", "run in the foreground and log to stdout too")]),
        ["stop"] = new(["ferry stop [reason …]"], []),
        ["restart"] = new(["ferry restart"], []),
        ["reload"] = new(["ferry reload"], []),
        ["compare"] = new(["ferry compare SYNC [tables=T,…] [repair=DB] [--quiet]"],
            [("tables=T,…", "compare only these tables"), ("repair=DB", "send the differing rows again from DB, a source of the sync"),
             ("--quiet", "progress as a plain line every FERRY_PROGRESS_SECONDS, not a live one")]),
        ["copy"] = new(["ferry copy SYNC to=DB[,DB…] [from=SOURCE] [mode=replace|empty] [tables=T,…] [--quiet]"],
            [("to=DB,…", "the targets to fill"), ("from=SOURCE", "the source to copy from; default the sync's first"),
             ("mode=M", "replace (default) the targets' rows, or empty: fill only their empty tables"),
             ("tables=T,…", "only these tables of the sync; the pairs keep their positions"),
             ("--quiet", "progress as a plain line every FERRY_PROGRESS_SECONDS, not a live one")]),
        ["ddl"] = new(["ferry ddl SYNC \"ALTER TABLE …\" [as=USER] [dbs=DB,…]"],
            [("as=USER", "run it as this role (the tables' owner)"), ("dbs=DB,…", "only on these databases")]),
        ["conflicts"] = new(["ferry conflicts [SYNC] [--since T] [--json]"],
            [("--since T", "only conflicts recorded after T"), ("--json", "one JSON object per conflict")]),
        ["demo"] = new(["ferry demo"], []),
        ["help"] = new(["ferry help [COMMAND]", "ferry COMMAND --help"], []),
    };

    public static bool Knows(string verb) => Verbs.ContainsKey(verb);

    public static string Text(string verb, string description)
    {
        var e = Verbs[verb];
        var lines = new List<string> { $"ferry {verb.ToLowerInvariant()}: {description}", "", "Usage:" };
        lines.AddRange(e.Usage.Select(u => "  " + u));
        lines.Add("");
        if (e.Keys.Length == 0)
        {
            lines.Add("Keys: none.");
        }
        else
        {
            lines.Add("Keys:");
            var width = e.Keys.Max(k => k.Key.Length) + 2;
            lines.AddRange(e.Keys.Select(k => "  " + k.Key.PadRight(width) + k.Says));
        }
        return string.Join(Environment.NewLine, lines) + Environment.NewLine;
    }
}
