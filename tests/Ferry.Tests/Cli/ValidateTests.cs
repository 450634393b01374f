using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>`ferry validate SYNC | all`: add sync's checks and the install state, read only, as an exit code.</summary>
[Collection("servers")]
public sealed class ValidateTests(ServerFixture servers)
{
    [Fact]
    public async Task validate_says_good_then_names_each_problem_with_its_fix_and_changes_nothing()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(validate_says_good_then_names_each_problem_with_its_fix_and_changes_nothing),
            "CREATE TABLE items (id int PRIMARY KEY, name text)", ["public.items"]);
        await t.AddDatabasesAsync(2);
        await t.Cli.OkAsync("add", "sync", "s", "tables=items", "dbs=db1:source,db2:target");
        Assert.Contains("Sync s: good (2 databases, 1 table).", (await t.Cli.OkAsync("validate", "s")).Out, StringComparison.Ordinal);
        Assert.Contains("Sync s: good", (await t.Cli.OkAsync("validate", "all")).Out, StringComparison.Ordinal);

        // A bulk load with the triggers switched off, and a grant taken away on the replica.
        await servers[0].ExecuteAsync(t.Database, "ALTER TABLE items DISABLE TRIGGER ferry_capture_update", default);
        await servers[1].ExecuteAsync(t.Database, $"REVOKE INSERT ON items FROM {RestrictedRole.User}", default);
        var bad = await t.Cli.RunAsync("validate", "s");
        Assert.True(bad.ExitCode == 1, bad.ToString());
        Assert.Contains("Sync s: 2 problems", bad.Out, StringComparison.Ordinal);
        Assert.True(bad.Out.Contains("Database db1: capture triggers on \"public\".\"items\" are disabled", StringComparison.Ordinal), bad.Out);
        Assert.True(bad.Out.Contains("ALTER TABLE \"public\".\"items\" ENABLE TRIGGER \"ferry_capture_update\";", StringComparison.Ordinal), bad.Out);
        Assert.True(bad.Out.Contains("GRANT INSERT ON \"public\".\"items\" TO \"ferry_repl\"", StringComparison.Ordinal), bad.Out);
        // Read only: the trigger is still disabled.
        Assert.Equal("D", await servers[0].ScalarAsync<string>(t.Database,
            "SELECT tgenabled::text FROM pg_trigger WHERE tgname = 'ferry_capture_update' AND tgrelid = 'items'::regclass", default));

        await t.Cli.RefusesAsync(Refusal.Usage, ["validate"], "Which sync? ferry validate SYNC");
        await t.Cli.RefusesAsync(Refusal.Failure, ["validate", "nosuch"], "Unknown sync 'nosuch'");
        await t.Cli.RefusesAsync(Refusal.Usage, ["validate", "s", "colour=blue"], "Unknown option for 'validate': colour");
    }
}
