using System.CommandLine;
using Ferry;
using Ferry.Cli;
using Ferry.Cli.Commands;

// The command tree. Verbs take Bucardo's free-form words and key=value pairs; each verb family lives in Commands/.
var root = new RootCommand("ferry: PostgreSQL multi-master replication from a relay, with plain grants (no superuser).");

root.Subcommands.Add(Verb("install", "Create the control store under $FERRY_HOME (default ~/.ferry).", InstallCommand.RunAsync));
root.Subcommands.Add(Verb("add", "Add a database, dbgroup, herd, table, all tables or sync: ferry add database NAME dbname=... host=...",
    AddCommands.RunAsync));
root.Subcommands.Add(Verb("list", "List databases, dbgroups, herds, tables, syncs or all.", ListCommands.RunAsync));
root.Subcommands.Add(Verb("remove", "Remove a database, dbgroup, herd or sync.", RemoveCommands.RunAsync));
root.Subcommands.Add(Verb("status", "Show syncs, pairs (lag) and databases (reachable, last error).", StatusCommand.RunAsync));
root.Subcommands.Add(Verb("kick", "Wake a sync's pairs now: ferry kick SYNC.", RelayCommands.KickAsync));
root.Subcommands.Add(Verb("stop", "Stop the relay.", (_, ct) => RelayCommands.StopAsync(ct)));
root.Subcommands.Add(Verb("restart", "Stop the relay and start it again (picks up configuration changes).", async (_, ct) =>
{
    await RelayCommands.StopAsync(ct);
    return await RelayCommands.StartAsync(false, ct);
}));
root.Subcommands.Add(Verb("demo", "Run a live demonstration on throwaway local PostgreSQL servers.", DemoCommand.RunAsync));

var foreground = new Option<bool>("--foreground") { Description = "Run in the foreground (systemd, containers); log to stdout too." };
var start = new Command("start", "Start the relay in the background; returns once it runs.") { foreground };
start.SetAction((result, ct) => Guard(() => RelayCommands.StartAsync(result.GetValue(foreground), ct)));
root.Subcommands.Add(start);

var debug = Verb("debug", "Run one stage by hand: ferry debug run-once SYNC SOURCE TARGET.", DebugCommands.RunAsync);
debug.Hidden = true;
root.Subcommands.Add(debug);

return await root.Parse(args).InvokeAsync();

static Command Verb(string name, string description, Func<BucardoArguments, CancellationToken, Task<int>> run)
{
    var words = new Argument<string[]>("args") { Arity = ArgumentArity.ZeroOrMore, Description = "words and key=value pairs" };
    var command = new Command(name, description) { words };
    command.TreatUnmatchedTokensAsErrors = false;
    command.SetAction((result, ct) => Guard(() =>
        run(new BucardoArguments((result.GetValue(words) ?? []).Concat(result.UnmatchedTokens)), ct)));
    return command;
}

// Errors a user can act on are printed as sentences, without a stack trace: 1 for a failure, 2 for a bad command line.
static async Task<int> Guard(Func<Task<int>> run)
{
    try
    {
        return await run();
    }
    catch (UsageException e)
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
    catch (OperationCanceledException)
    {
        Output.Error("interrupted");
        return 130;
    }
}
