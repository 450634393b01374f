using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>`ferry add dbgroup G a:source b:target`, in Bucardo's spellings, and every way to get it wrong.</summary>
[Collection("servers")]
public sealed class AddDbGroupTests(ServerFixture servers)
{
    private async Task<Topology> WithThreeDatabasesAsync(string test)
    {
        var t = await Topology.CreateAsync(servers, test, "CREATE TABLE items (id int PRIMARY KEY)", ["public.items"]);
        await t.AddDatabasesAsync();
        return t;
    }

    [Fact]
    public async Task source_and_target_make_a_dbgroup_in_the_order_given()
    {
        await using var t = await WithThreeDatabasesAsync(nameof(source_and_target_make_a_dbgroup_in_the_order_given));
        var r = await t.Cli.OkAsync("add", "dbgroup", "g", "db2:source", "db1:source", "db3:target");
        Assert.Contains("Added dbgroup g: db2 (source), db1 (source), db3 (target).", r.Out, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^g\s+db2:source, db1:source, db3:target\s*$", (await t.Cli.OkAsync("list", "dbgroups")).Out);
    }

    [Fact]
    public async Task master_and_slave_are_bucardos_words_for_source_and_target()
    {
        await using var t = await WithThreeDatabasesAsync(nameof(master_and_slave_are_bucardos_words_for_source_and_target));
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:master", "db2:slave", "db3:MASTER");
        Assert.Matches(@"(?m)^g\s+db1:source, db2:target, db3:source\s*$", (await t.Cli.OkAsync("list", "dbgroups")).Out);
    }

    [Fact]
    public async Task bare_names_make_the_first_a_source_and_the_rest_targets()
    {
        await using var t = await WithThreeDatabasesAsync(nameof(bare_names_make_the_first_a_source_and_the_rest_targets));
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1", "db2,db3");
        Assert.Matches(@"(?m)^g\s+db1:source, db2:target, db3:target\s*$", (await t.Cli.OkAsync("list", "dbgroups")).Out);
    }

    [Fact]
    public async Task an_unknown_database_is_refused_naming_it_and_how_to_add_it()
    {
        await using var t = await WithThreeDatabasesAsync(nameof(an_unknown_database_is_refused_naming_it_and_how_to_add_it));
        await t.Cli.RefusesAsync(Refusal.Failure, ["add", "dbgroup", "g", "db1:source", "dbx:target"],
            "no database 'dbx'", "ferry add database dbx");
    }

    [Fact]
    public async Task a_dbgroup_that_exists_is_not_replaced()
    {
        await using var t = await WithThreeDatabasesAsync(nameof(a_dbgroup_that_exists_is_not_replaced));
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:target");
        await t.Cli.RefusesAsync(Refusal.Failure, ["add", "dbgroup", "g", "db3:source", "db1:target"],
            "'g' already exists", "ferry remove dbgroup g");
    }

    [Fact]
    public async Task malformed_dbgroup_lines_are_usage_errors_that_change_nothing()
    {
        await using var t = await WithThreeDatabasesAsync(nameof(malformed_dbgroup_lines_are_usage_errors_that_change_nothing));
        // One setup, many lines: each must be refused on its own terms.
        (string[] Args, string Says)[] cases =
        [
            (["add", "dbgroup", "g", "db1:boss", "db2:target"], "Unknown role 'boss' for database db1"),
            (["add", "dbgroup", "g", "db1:target", "db2:target"], "needs at least one source"),
            (["add", "dbgroup", "g", "db1:source", "db1:target"], "'db1' is listed twice"),
            (["add", "dbgroup", "g"], "ferry add dbgroup NAME db1:source"),
            (["add", "dbgroup", "g;drop", "db1:source", "db2:target"], "not a valid dbgroup name"),
            (["add", "dbgroup", "g", "db1:source", "x\"y:target"], "not a valid database name"),
            (["add", "dbgroup", "g", "db1:source", "db2:target", "colour=blue"], "Unknown option for 'add dbgroup': colour"),
        ];
        foreach (var (args, says) in cases) await t.Cli.RefusesAsync(Refusal.Usage, args, says);
    }
}
