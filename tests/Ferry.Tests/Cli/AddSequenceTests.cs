using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>
/// `ferry add sequence | all sequences`, `ferry list sequences`, and the checks `ferry add sync` makes of a herd's
/// sequences on every database: every bad input says what is wrong and changes nothing.
/// </summary>
[Collection("servers")]
public sealed class AddSequenceTests(ServerFixture servers)
{
    private const string Schema = """
        CREATE TABLE items (id int PRIMARY KEY);
        CREATE SEQUENCE ticket_no;
        CREATE SEQUENCE "we""ird; seq"
        """;

    private const string Weird = "\"public\".\"we\"\"ird; seq\"";

    private async Task<Topology> ReadyAsync(string test, int databases)
    {
        var t = await Topology.CreateAsync(servers, test, Schema, ["public.items"]);
        foreach (var s in servers.Servers) await RestrictedRole.GrantSequencesAsync(s, t.Database, ["ticket_no", Weird], default);
        await t.AddDatabasesAsync(databases);
        return t;
    }

    [Fact]
    public async Task sequences_named_with_quotes_are_added_listed_and_refused_when_not_sequences()
    {
        await using var t = await ReadyAsync(nameof(sequences_named_with_quotes_are_added_listed_and_refused_when_not_sequences), 1);
        var r = await t.Cli.OkAsync("add", "sequence", "ticket_no", "\"we\"\"ird; seq\"", "herd=h");
        Assert.Contains($"Added 2 sequences to herd h: \"public\".\"ticket_no\", {Weird}.", r.Out, StringComparison.Ordinal);
        var list = (await t.Cli.OkAsync("list", "sequences")).Out;
        Assert.Matches(@"(?m)^sequence\s+herd\s*$", list);
        Assert.Matches(@"(?m)^""public"".""ticket_no""\s+h\s*$", list);
        Assert.Matches(@"(?m)^" + System.Text.RegularExpressions.Regex.Escape(Weird) + @"\s+h\s*$", list);
        Assert.Matches(@"(?m)^h\s+" + System.Text.RegularExpressions.Regex.Escape($"\"public\".\"ticket_no\", {Weird}") + @"\s*$",
            (await t.Cli.OkAsync("list", "herds")).Out);
        Assert.Contains("Added 0 sequences", (await t.Cli.OkAsync("add", "sequences", "public.ticket_no", "relgroup=h")).Out, StringComparison.Ordinal);

        // ticket_no is fine and nosuch is not: neither is added to h2.
        await t.Cli.RefusesAsync(Refusal.Failure, ["add", "sequence", "ticket_no", "nosuch", "herd=h2"],
            "Sequence \"public\".\"nosuch\" does not exist in database db1");
        await t.Cli.RefusesAsync(Refusal.Failure, ["add", "sequence", "items", "herd=h2"],
            "\"public\".\"items\" is a table in database db1, not a sequence", "ferry add table");
        await t.Cli.RefusesAsync(Refusal.Failure, ["add", "sequence", "ticket_no", "herd=h2", "db=dbx"], "Unknown database 'dbx'");
    }

    [Fact]
    public async Task add_all_sequences_adds_what_ferry_may_read_and_names_the_grant_for_the_rest()
    {
        await using var t = await ReadyAsync(nameof(add_all_sequences_adds_what_ferry_may_read_and_names_the_grant_for_the_rest), 1);
        await servers[0].ExecuteAsync(t.Database, $"REVOKE ALL ON SEQUENCE ticket_no FROM {RestrictedRole.User}", default);
        var r = await t.Cli.OkAsync("add", "all", "sequences", "herd=h");
        Assert.Contains($"Skipped \"public\".\"ticket_no\": {RestrictedRole.User} may not read it " +
                        $"(GRANT SELECT, UPDATE ON SEQUENCE \"public\".\"ticket_no\" TO \"{RestrictedRole.User}\";", r.Out, StringComparison.Ordinal);
        Assert.Contains($"Added 1 sequence from db1 to herd h: {Weird}.", r.Out, StringComparison.Ordinal);
        await t.Cli.RefusesAsync(Refusal.Failure, ["add", "all", "sequences", "herd=h", "schema=nowhere"], "No sequence found in db1, schema nowhere");
    }

    [Fact]
    public async Task add_sync_refuses_a_sequence_missing_or_unwritable_on_a_database_and_changes_nothing()
    {
        await using var t = await ReadyAsync(nameof(add_sync_refuses_a_sequence_missing_or_unwritable_on_a_database_and_changes_nothing), 3);
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:target", "db3:target");
        await t.Cli.OkAsync("add", "table", "items", "herd=h");
        await t.Cli.OkAsync("add", "sequence", "ticket_no", "herd=h");
        await servers[2].ExecuteAsync(t.Database, "DROP SEQUENCE ticket_no", default);
        // The lone source is only read: it needs SELECT and not UPDATE. A target needs both.
        await servers[0].ExecuteAsync(t.Database, $"REVOKE UPDATE ON SEQUENCE ticket_no FROM {RestrictedRole.User}", default);
        await servers[1].ExecuteAsync(t.Database, $"REVOKE UPDATE ON SEQUENCE ticket_no FROM {RestrictedRole.User}", default);
        var r = await t.Cli.RefusesAsync(Refusal.Failure, ["add", "sync", "s", "herd=h", "dbs=g"],
            "Sync s was not added; nothing was changed",
            "Sequence \"public\".\"ticket_no\" of herd h does not exist in database db3",
            $"Database db2: as the sequence owner or a superuser, run in {t.Database}: " +
            $"GRANT UPDATE ON SEQUENCE \"public\".\"ticket_no\" TO \"{RestrictedRole.User}\";");
        Assert.DoesNotContain("Database db1", r.Err, StringComparison.Ordinal);
        await Refusal.AssertNoFerryObjectsAsync(servers, t.Database);

        // The statements are the whole fix.
        await servers[2].ExecuteAsync(t.Database, "CREATE SEQUENCE ticket_no", default);
        await RestrictedRole.GrantSequencesAsync(servers[2], t.Database, ["ticket_no"], default);
        await servers[1].ExecuteAsync(t.Database, $"GRANT UPDATE ON SEQUENCE \"public\".\"ticket_no\" TO \"{RestrictedRole.User}\";", default);
        var added = await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
        Assert.Contains("1 sequence)", added.Out, StringComparison.Ordinal);
        Assert.Contains("Sequences \"public\".\"ticket_no\" are carried forward", added.Out, StringComparison.Ordinal);

        // One pass of one pair, in-process: the sequence stage runs alone too.
        await servers[0].ExecuteAsync(t.Database, "SELECT nextval('ticket_no') FROM generate_series(1, 3)", default);
        var once = await t.Cli.OkAsync("debug", "run-once", "s", "db1", "db2");
        Assert.Contains("s:db1->db2: 1 sequence, 1 moved forward; \"public\".\"ticket_no\" next 4", once.Out, StringComparison.Ordinal);
        Assert.Contains("1 sequence, 0 moved forward", (await t.Cli.OkAsync("debug", "run-once", "s", "db1", "db2")).Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task a_sequence_added_to_a_herd_in_use_is_checked_on_every_database_of_the_sync()
    {
        await using var t = await ReadyAsync(nameof(a_sequence_added_to_a_herd_in_use_is_checked_on_every_database_of_the_sync), 2);
        await t.Cli.OkAsync("add", "table", "items", "herd=h");
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=db1:source,db2:target");
        await servers[0].ExecuteAsync(t.Database, "CREATE SEQUENCE late", default);
        await RestrictedRole.GrantSequencesAsync(servers[0], t.Database, ["late"], default);
        await t.Cli.RefusesAsync(Refusal.Failure, ["add", "sequence", "late", "herd=h"],
            "No sequence was added to herd h: sync s replicates it", "Sequence \"public\".\"late\" of herd h does not exist in database db2");

        await servers[1].ExecuteAsync(t.Database, "CREATE SEQUENCE late", default);
        await RestrictedRole.GrantSequencesAsync(servers[1], t.Database, ["late"], default);
        var r = await t.Cli.OkAsync("add", "sequence", "late", "herd=h");
        Assert.Contains("Sync s carries them forward.", r.Out, StringComparison.Ordinal);
        Assert.Contains("The relay is not running; it starts with this configuration", r.Out, StringComparison.Ordinal);

        // Sequences go with their herd, as tables do: not while a sync uses it.
        await t.Cli.RefusesAsync(Refusal.Failure, ["remove", "herd", "h"], "sync s", "ferry remove sync s");
        await t.Cli.OkAsync("remove", "sync", "s");
        await t.Cli.OkAsync("remove", "herd", "h");
        Assert.Equal("sequence  herd", (await t.Cli.OkAsync("list", "sequences")).Out.Trim());
    }

    [Fact]
    public async Task two_sources_sharing_a_sequence_that_does_not_interleave_are_told_how_to_interleave_it()
    {
        await using var t = await ReadyAsync(nameof(two_sources_sharing_a_sequence_that_does_not_interleave_are_told_how_to_interleave_it), 2);
        await servers[0].ExecuteAsync(t.Database, "SELECT setval('ticket_no', 41)", default);
        await servers[1].ExecuteAsync(t.Database, "SELECT setval('ticket_no', 17)", default);
        await t.Cli.OkAsync("add", "table", "items", "herd=h");
        await t.Cli.OkAsync("add", "sequence", "ticket_no", "herd=h");
        var r = await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=db1:source,db2:source");
        // Above the highest value either handed out (41): db1 counts 43, 45, …; db2 42, 44, ….
        Assert.Contains("-- on db1:\n  ALTER SEQUENCE \"public\".\"ticket_no\" INCREMENT BY 2 RESTART WITH 43;", r.Out, StringComparison.Ordinal);
        Assert.Contains("-- on db2:\n  ALTER SEQUENCE \"public\".\"ticket_no\" INCREMENT BY 2 RESTART WITH 42;", r.Out, StringComparison.Ordinal);
    }
}

/// <summary>Bad `add sequence` lines are refused before any database is asked: no servers needed.</summary>
public sealed class AddSequenceUsageTests : InstalledStoreTests
{
    [Fact]
    public async Task malformed_sequence_lines_are_usage_errors_that_change_nothing()
    {
        (string[] Args, string Says)[] cases =
        [
            (["add", "sequence", "ticket_no"], "Which herd?"),
            (["add", "sequence", "herd=h"], "Which sequences?"),
            (["add", "sequence", "\"unterminated", "herd=h"], "Unterminated quoted name"),
            (["add", "sequence", "a.b.c", "herd=h"], "'a.b.c' is not a sequence name"),
            (["add", "sequence", "ticket_no", "herd=h;drop"], "not a valid herd name"),
            (["add", "sequence", "ticket_no", "herd=h", "increment=2"], "increment"),
            (["add", "all", "sequences"], "Which herd?"),
            (["add", "all", "sequences", "herd=h", "now"], "Unexpected 'now'"),
            (["add", "all", "sequences", "herd=h", "colour=blue"], "colour"),
            (["add", "widget"], "all sequences"),
        ];
        foreach (var (args, says) in cases) await Cli.RefusesAsync(Refusal.Usage, args, says);
    }
}
