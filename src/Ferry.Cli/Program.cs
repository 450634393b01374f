using System.CommandLine;
using Ferry;
using Ferry.Cli;
using Ferry.Cli.Commands;

// The command tree. Verbs take Bucardo's free-form words and key=value pairs; each verb family lives in Commands/.
var root = new RootCommand("ferry: PostgreSQL multi-master replication from a relay, with plain grants (no superuser).");

root.Subcommands.Add(Verb("install", "Create the control store: SQLite under $FERRY_HOME (default ~/.ferry), or in PostgreSQL: " +
    "ferry install dbname=... host=... port=... user=... [schema=NAME].", InstallCommand.RunAsync));
root.Subcommands.Add(Verb("store", "Move this home's SQLite control store into PostgreSQL, to share it between relay hosts: " +
    "ferry store move dbname=... host=... port=... user=... [schema=NAME].", StoreCommand.RunAsync));
root.Subcommands.Add(Verb("add", "Add a database, dbgroup, herd, table, all tables, sequence, all sequences or sync: " +
    "ferry add database NAME dbname=... host=...", AddCommands.RunAsync));
root.Subcommands.Add(Verb("list", "List databases, dbgroups, herds, tables, sequences, syncs or all.", ListCommands.RunAsync));
root.Subcommands.Add(Verb("remove", "Remove a database, dbgroup, herd, sync or table (ferry remove table NAME [herd=H]).",
    RemoveCommands.RunAsync));
root.Subcommands.Add(Verb("rename", "Follow a table renamed on every database: ferry rename table OLD NEW.", TableCommands.RenameAsync));
root.Subcommands.Add(Verb("upgrade", "After installing a newer ferry: install its schema and capture over the old ones, in place.",
    UpgradeCommand.RunAsync));
root.Subcommands.Add(Verb("update", "Change a sync (status, conflict_strategy) or a database (host, port, user, ...) in place: " +
    "ferry update sync NAME key=value ... | ferry update database NAME key=value ...", UpdateCommands.RunAsync));
root.Subcommands.Add(Verb("pause", "Stop replicating a sync until resumed; its changes wait in the sources: ferry pause SYNC.",
    UpdateSyncCommand.PauseAsync));
root.Subcommands.Add(Verb("resume", "Replicate a paused sync again, from where it stopped: ferry resume SYNC.", UpdateSyncCommand.ResumeAsync));
root.Subcommands.Add(Verb("validate", "Check a sync as add sync does (grants, tables, sequences) and what it installed; changes " +
    "nothing; exit 1 with the problems: ferry validate SYNC ... | all.", ValidateCommand.RunAsync));
root.Subcommands.Add(Verb("status", "Show syncs, pairs (lag) and databases (reachable, last error).", StatusCommand.RunAsync));
root.Subcommands.Add(Verb("kick", "Wake a sync's pairs now: ferry kick SYNC.", RelayCommands.KickAsync));
// Bucardo's `stop "reason"` takes a free-text reason: words are accepted, unknown key=value options are not.
root.Subcommands.Add(Verb("stop", "Stop the relay.", (a, ct) =>
{
    a.RejectUnknown("stop");
    return RelayCommands.StopAsync(ct);
}));
root.Subcommands.Add(Verb("reload", "Have the running relay read its configuration again: it starts, stops or restarts only the " +
    "pairs whose sync or databases changed, and says which (SIGHUP does the same).", RelayCommands.ReloadAsync));
root.Subcommands.Add(Verb("restart", "Stop the relay and start it again, in the background (after ferry upgrade).", async (a, ct) =>
{
    a.RejectUnknown("restart");
    await RelayCommands.StopAsync(ct);
    return await RelayCommands.StartAsync(false, ct);
}));
root.Subcommands.Add(Verb("compare", "Compare a sync's tables on all its databases; repair=DB sends the differing rows again from DB.",
    CompareCommand.RunAsync));
root.Subcommands.Add(Verb("copy", "Re-copy targets of a sync from a source, then replicate from there: ferry copy SYNC to=DB [from=SOURCE] [mode=replace|empty].",
    CopyCommand.RunAsync));
root.Subcommands.Add(Verb("ddl", "Run a schema change on every database of a sync, in the order that holds tables least: ferry ddl SYNC \"ALTER TABLE …\" [as=USER].",
    DdlCommand.RunAsync));
root.Subcommands.Add(Verb("conflicts", "List recorded conflicts: ferry conflicts [SYNC] [--since T] [--json].", ConflictsCommand.RunAsync));
root.Subcommands.Add(Verb("demo", "Run a live demonstration on throwaway local PostgreSQL servers.", DemoCommand.RunAsync));

var foreground = new Option<bool>("--foreground") { Description = "Run in the foreground (systemd, containers); log to stdout too." };
// Bucardo's `start "reason"` takes a free-text reason; accept it so Bucardo scripts run unchanged.
var reason = new Argument<string[]>("reason") { Arity = ArgumentArity.ZeroOrMore, Description = "why (accepted, as Bucardo does)" };
var prefers = new Option<string>("--prefers") { Description = "Databases (comma-separated) whose syncs this relay takes first when several relays share a PostgreSQL store (FERRY_RELAY_PREFERS)." };
var start = new Command("start", "Start the relay in the background; returns once it runs.") { foreground, prefers, reason };
start.SetAction((result, ct) => Guard("start", () =>
{
    // An argument that takes free words also swallows misspelt options (--forground): refuse those.
    if ((result.GetValue(reason) ?? []).FirstOrDefault(w => w.StartsWith('-')) is { } bad)
        throw new UsageException($"Unknown option '{bad}' for start: ferry start [--foreground] [--prefers=DB,...] [reason ...]");
    // Through the environment: the detached relay inherits it, and it reads the setting as it would from ferry.conf.
    if (result.GetValue(prefers) is { } preferred) Environment.SetEnvironmentVariable("FERRY_RELAY_PREFERS", preferred);
    return RelayCommands.StartAsync(result.GetValue(foreground), ct);
}));
root.Subcommands.Add(start);

// The same line as --version, for people who type it as a verb; plus what an upgrade needs to know.
var version = new Command("version", "Print ferry's version and the schema version it installs in databases.");
version.SetAction(_ =>
{
    Output.Line($"ferry {Versions.Ferry} (database schema {Ferry.Install.NodeInstaller.SchemaVersion}, .NET {Environment.Version})");
    return 0;
});
root.Subcommands.Add(version);

var debug = Verb("debug", "Run one stage by hand: ferry debug run-once SYNC SOURCE TARGET.", DebugCommands.RunAsync);
debug.Hidden = true;
root.Subcommands.Add(debug);

root.Subcommands.Add(Verb("help", "Show the commands, or one command's forms and keys: ferry help [COMMAND].", (a, ct) =>
{
    a.RejectUnknown("help");
    if (a.Words.Count == 0) return Task.FromResult(RootHelp());
    if (a.Words.Count > 1 || !VerbHelp.Knows(a.Words[0]))
        throw new UsageException($"No command '{string.Join(" ", a.Words)}'. ferry help lists the commands.");
    Console.Out.Write(VerbHelp.Text(a.Words[0], root.Subcommands.First(c => c.Name == a.Words[0].ToLowerInvariant()).Description!));
    return Task.FromResult(0);
}));

// `ferry VERB --help` lists the verb's keys, which System.CommandLine cannot know: every verb takes free key=value words.
if (args.Length >= 2 && VerbHelp.Knows(args[0]) && args.Skip(1).Any(a => a is "--help" or "-h" or "-?")
    && root.Subcommands.FirstOrDefault(c => c.Name == args[0]) is { } asked)
{
    Console.Out.Write(VerbHelp.Text(args[0], asked.Description!));
    return 0;
}

var parsed = root.Parse(args);
// System.CommandLine would print its help to stdout and exit 1 on a bad command line; ferry's contract is a
// sentence on stderr and exit 2, like every other misuse.
if (parsed.Errors.Count > 0 && parsed.Action is not System.CommandLine.Help.HelpAction)
{
    if (args.Length == 0) Output.Error("No command given.");
    // Beside an unrecognized word, "Required command was not provided" only repeats it.
    foreach (var error in parsed.Errors.Where(e => args.Length > 0 && !e.Message.StartsWith("Required command", StringComparison.Ordinal)))
        Output.Error(error.Message.TrimEnd('.') + ".");
    Output.Error("Run 'ferry --help' to see the commands.");
    return 2;
}
// Help and --version write here; the usage line should name the command people type, not the assembly.
var help = new StringWriter();
var invocation = new InvocationConfiguration { Output = help };
// Ctrl-C and SIGTERM cancel the verb's token; a copy then rolls its slice in flight back and records itself
// interrupted, which over a slow link outlasts System.CommandLine's default 2 s before it gives up on the verb and
// exits without a word. Only for the verbs that copy or compare: the relay's own signal handling (start) has its
// own timing.
if (args.Length > 0 && args[0] is "copy" or "compare" or "add") invocation.ProcessTerminationTimeout = TimeSpan.FromSeconds(20);
var exit = await parsed.InvokeAsync(invocation);
// The executable's own name (Ferry.Cli, or whatever a copied binary is called) would appear in every usage line.
var text = help.ToString().Replace("Ferry.Cli", "ferry", StringComparison.Ordinal);
if (RootCommand.ExecutableName is { Length: > 0 } exe && exe != "ferry")
    text = System.Text.RegularExpressions.Regex.Replace(text, $@"(?m)^(  ){System.Text.RegularExpressions.Regex.Escape(exe)}( |$)", "$1ferry$2");
Console.Out.Write(text);
return exit;

int RootHelp()
{
    var text = new StringWriter();
    var exit = root.Parse(["--help"]).Invoke(new InvocationConfiguration { Output = text });
    Console.Out.Write(text.ToString().Replace("Ferry.Cli", "ferry", StringComparison.Ordinal));
    return exit;
}

static Command Verb(string name, string description, Func<BucardoArguments, CancellationToken, Task<int>> run)
{
    var words = new Argument<string[]>("args") { Arity = ArgumentArity.ZeroOrMore, Description = "words and key=value pairs" };
    var command = new Command(name, description) { words };
    command.TreatUnmatchedTokensAsErrors = false;
    command.SetAction((result, ct) => Guard(name, () =>
        run(new BucardoArguments((result.GetValue(words) ?? []).Concat(result.UnmatchedTokens)), ct)));
    return command;
}

// Errors a user can act on are printed as sentences, without a stack trace: 1 for a failure, 2 for a bad command line,
// 70 (EX_SOFTWARE) for ferry's own bug, whose details go to the log.
static async Task<int> Guard(string verb, Func<Task<int>> run)
{
    try
    {
        foreach (var unknown in Defaults.Check())
            Output.Error($"warning: {unknown} is set but is no ferry setting, so it changes nothing" +
                         (Defaults.Nearest(unknown) is { } meant ? $" (did you mean {meant}?)" : "") + ".");
        // The demo makes a home of its own, help needs none; every other verb uses $FERRY_HOME, which must be safe to trust first.
        if (verb is not ("demo" or "help")) FerryHome.Check(create: verb == "install");
        return await run();
    }
    catch (Exception e) when (e is UsageException or SettingException)
    {
        Output.Error(e.Message);
        return 2;
    }
    catch (FerryException e)
    {
        Output.Error(e.Message);
        return 1;
    }
    catch (FormatException e)
    {
        Output.Error(e.Message);
        return 2;
    }
    catch (OperationCanceledException e)
    {
        Output.Error(e is InterruptedException ? e.Message : "interrupted");
        return 130;
    }
    catch (Npgsql.PostgresException e)
    {
        // A statement ferry ran was refused (a privilege revoked meanwhile, a lock timeout): say so without a trace.
        Output.Error($"PostgreSQL refused: {e.MessageText} (SQLSTATE {e.SqlState}){(e.Detail is null ? "" : ": " + e.Detail)}.");
        return 1;
    }
    catch (Npgsql.NpgsqlException e)
    {
        Output.Error($"Lost the connection to PostgreSQL: {e.Message.TrimEnd('.')}. Check the link and run the command again: " +
                     "ferry's setup steps are safe to repeat.");
        return 1;
    }
    catch (Exception e) when (Ferry.ControlStore.StoreErrors.Explain(e) is { } sentence)
    {
        Output.Error(sentence);
        return 1;
    }
    catch (Exception e)
    {
        Output.Error($"internal error: {Flat(e.Message)} ({Logged(verb, e)})");
        return 70;
    }
}

static string Flat(string message) => string.Join(' ', message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));

// The stack trace of an internal error belongs in the log, not on the user's screen.
static string Logged(string verb, Exception e)
{
    var log = Defaults.LogPath;
    try
    {
        if (!Directory.Exists(Defaults.Home)) return "no log: FERRY_HOME does not exist";
        using var stream = FerryHome.OpenAppend(log);
        using var writer = new StreamWriter(stream);
        writer.WriteLine($"{DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm:ss.fff}Z Error       ferry internal error in 'ferry {verb}': {e}");
        return $"details in {log}; please report it";
    }
    catch (Exception logError)
    {
        return $"details could not be written to {log}: {Flat(logError.Message)}";
    }
}
