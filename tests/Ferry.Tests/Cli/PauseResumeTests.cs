using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>`ferry pause | resume SYNC` and `ferry update sync`: what changes in place, and what a running relay does.</summary>
[Collection("servers")]
public sealed class PauseResumeTests(ServerFixture servers)
{
    private const string Schema = """
        CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
        CREATE TABLE witness (id int PRIMARY KEY)
        """;

    private async Task<Topology> ReadyAsync(string test)
    {
        var t = await Topology.CreateAsync(servers, test, Schema, ["public.items", "public.witness"]);
        await t.AddDatabasesAsync(2);
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:target");
        await t.Cli.OkAsync("add", "sync", "s", "tables=items", "dbs=g");
        return t;
    }

    private static Task<long> CountAsync(Topology t, int server, string sql) => t.ScalarAsync<long>(server, sql);

    [Fact]
    public async Task a_paused_sync_holds_its_writes_and_resume_delivers_them_while_other_syncs_flow()
    {
        await using var t = await ReadyAsync(nameof(a_paused_sync_holds_its_writes_and_resume_delivers_them_while_other_syncs_flow));
        // A second sync over the same databases is the witness: the relay keeps running it while s is paused.
        await t.Cli.OkAsync("add", "sync", "w", "tables=witness", "dbs=g");
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO items VALUES (1, 'before')");
        await t.ConvergedAsync("public.items", [0, 1]);

        var paused = await t.Cli.OkAsync("pause", "s");
        Assert.Contains("Paused sync s", paused.Out, StringComparison.Ordinal);
        // The relay reloads in place: s's pair stops, w's goes on untouched.
        Assert.Contains("reloaded: sync s stopped (1 pair), sync w unchanged", paused.Out, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^s\s+s\s+g\s+latest\s+inactive\s*$", (await t.Cli.OkAsync("list", "syncs")).Out);
        Refusal.AssertRefused(await t.Cli.RunAsync("kick", "s"), Refusal.Failure, "kick of a paused sync", "does not run sync s");
        await t.ExecAsync(0, "INSERT INTO items VALUES (2, 'while paused')");
        // Written after the paused row: once the witness arrives, the paused row would have too, had s run.
        await t.ExecAsync(0, "INSERT INTO witness VALUES (1)");
        await t.ConvergedAsync("public.witness", [0, 1]);
        Assert.Equal(0L, await CountAsync(t, 1, "SELECT count(*) FROM items WHERE id = 2"));

        var resumed = await t.Cli.OkAsync("resume", "s");
        Assert.Contains("Resumed sync s", resumed.Out, StringComparison.Ordinal);
        Assert.Contains("reloaded: sync s started (1 pair), sync w unchanged", resumed.Out, StringComparison.Ordinal);
        await t.ConvergedAsync("public.items", [0, 1]);
        // A new rule restarts only s's pair, which then decides by it.
        Assert.Contains("reloaded: sync s restarted (1 pair), sync w unchanged",
            (await t.Cli.OkAsync("update", "sync", "s", "conflict_strategy=source")).Out, StringComparison.Ordinal);
        Assert.Equal(2L, await CountAsync(t, 1, "SELECT count(*) FROM items"));

        // Bucardo's spelling does the same.
        Assert.Contains("Paused sync s", (await t.Cli.OkAsync("update", "sync", "s", "status=inactive")).Out, StringComparison.Ordinal);
        Assert.Contains("already inactive", (await t.Cli.OkAsync("pause", "s")).Out, StringComparison.Ordinal);
        Assert.Contains("Resumed sync s", (await t.Cli.OkAsync("update", "sync", "s", "status=active")).Out, StringComparison.Ordinal);
        await t.ExecAsync(0, "INSERT INTO items VALUES (3, 'after')");
        await t.ConvergedAsync("public.items", [0, 1]);
    }

    [Fact]
    public async Task update_sync_changes_the_rule_and_refuses_what_would_need_a_reinstall()
    {
        await using var t = await ReadyAsync(nameof(update_sync_changes_the_rule_and_refuses_what_would_need_a_reinstall));
        var r = await t.Cli.OkAsync("update", "sync", "s", "conflict_strategy=bucardo_source");
        Assert.Contains("conflict_strategy=source (was latest)", r.Out, StringComparison.Ordinal);
        Assert.Contains("not running", r.Out, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^s\s+s\s+g\s+source\s+active\s*$", (await t.Cli.OkAsync("list", "syncs")).Out);

        // Bucardo's knobs that mean nothing to ferry are accepted, as add sync accepts them.
        Assert.Contains("autokick= makes no difference to ferry", (await t.Cli.OkAsync("update", "sync", "s", "autokick=0")).Out,
            StringComparison.Ordinal);
        await t.Cli.RefusesAsync(Refusal.Usage, ["update", "sync", "s", "dbs=other"], "cannot change dbs=", "Remove the sync");
        await t.Cli.RefusesAsync(Refusal.Usage, ["update", "sync", "s", "herd=h2"], "cannot change herd=", "ferry add table");
        await t.Cli.RefusesAsync(Refusal.Usage, ["update", "sync", "s", "onetimecopy=1"], "ferry copy");
        await t.Cli.RefusesAsync(Refusal.Usage, ["update", "sync", "s", "conflict_strategy=newest"], "Unknown conflict_strategy 'newest'");
        await t.Cli.RefusesAsync(Refusal.Usage, ["update", "sync", "s", "status=paused"], "status must be active or inactive");
        await t.Cli.RefusesAsync(Refusal.Usage, ["update", "sync", "s", "colour=blue"], "Unknown option for 'update sync': colour");
        await t.Cli.RefusesAsync(Refusal.Usage, ["update", "sync", "s"], "Nothing to change");
        await t.Cli.RefusesAsync(Refusal.Failure, ["update", "sync", "nosuch", "status=active"], "Unknown sync 'nosuch'");
        await t.Cli.RefusesAsync(Refusal.Failure, ["pause", "nosuch"], "Unknown sync 'nosuch'");
        await t.Cli.RefusesAsync(Refusal.Usage, ["resume"], "Which sync? ferry resume SYNC");
        await t.Cli.RefusesAsync(Refusal.Usage, ["update", "herd", "h"], "Cannot update 'herd'");
    }
}
