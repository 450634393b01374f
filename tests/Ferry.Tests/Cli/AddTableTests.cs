using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>`ferry add herd | table | all tables`: herds are checked against the reference database's catalog.</summary>
[Collection("servers")]
public sealed class AddTableTests(ServerFixture servers)
{
    // A keyed table, a table without primary key, and a table whose name needs every kind of quoting.
    private const string Schema = """
        CREATE TABLE items (id int PRIMARY KEY, name text);
        CREATE TABLE notes (body text);
        CREATE TABLE "we""ird; name" (id int PRIMARY KEY, "odd col" text)
        """;

    private const string Weird = "\"public\".\"we\"\"ird; name\"";

    private async Task<Topology> WithOneDatabaseAsync(string test)
    {
        var t = await Topology.CreateAsync(servers, test, Schema, ["public.items", "public.notes", "public.\"we\"\"ird; name\""]);
        await t.AddDatabasesAsync(1);
        return t;
    }

    [Fact]
    public async Task add_table_refuses_a_table_without_primary_key_and_says_how_to_give_it_one()
    {
        await using var t = await WithOneDatabaseAsync(nameof(add_table_refuses_a_table_without_primary_key_and_says_how_to_give_it_one));
        // items is fine, notes is not: neither is added, so a herd is never half made.
        await t.Cli.RefusesAsync(Refusal.Failure, ["add", "table", "items", "notes", "herd=h"],
            "\"public\".\"notes\"", "has no primary key", "ADD PRIMARY KEY");
    }

    [Fact]
    public async Task add_all_tables_skips_a_table_without_primary_key_and_names_it()
    {
        await using var t = await WithOneDatabaseAsync(nameof(add_all_tables_skips_a_table_without_primary_key_and_names_it));
        var r = await t.Cli.OkAsync("add", "all", "tables", "herd=h");
        Assert.Contains("Skipped \"public\".\"notes\": it has no primary key", r.Out, StringComparison.Ordinal);
        var tables = (await t.Cli.OkAsync("list", "tables")).Out;
        Assert.Contains("\"public\".\"items\"", tables, StringComparison.Ordinal);
        Assert.Contains(Weird, tables, StringComparison.Ordinal);
        Assert.DoesNotContain("notes", tables, StringComparison.Ordinal);
    }

    [Fact]
    public async Task a_table_named_with_quotes_semicolons_and_spaces_is_added_as_written()
    {
        await using var t = await WithOneDatabaseAsync(nameof(a_table_named_with_quotes_semicolons_and_spaces_is_added_as_written));
        var r = await t.Cli.OkAsync("add", "table", "\"we\"\"ird; name\"", "herd=h");
        Assert.Contains($"Added 1 table to herd h: {Weird}.", r.Out, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^" + System.Text.RegularExpressions.Regex.Escape(Weird) + @"\s+h\s+\(sync's\)\s*$", (await t.Cli.OkAsync("list", "tables")).Out);
    }

    [Fact]
    public async Task add_herd_with_tables_adds_them_and_an_empty_herd_can_be_filled_later()
    {
        await using var t = await WithOneDatabaseAsync(nameof(add_herd_with_tables_adds_them_and_an_empty_herd_can_be_filled_later));
        await t.Cli.OkAsync("add", "herd", "empty");
        await t.Cli.OkAsync("add", "herd", "h", "public.items");
        await t.Cli.OkAsync("add", "table", "items", "herd=empty", "db=db1");
        var herds = (await t.Cli.OkAsync("list", "herds")).Out;
        Assert.Matches(@"(?m)^h\s+""public"".""items""\s*$", herds);
        Assert.Matches(@"(?m)^empty\s+""public"".""items""\s*$", herds);
        // Adding a table twice is harmless and says so by the count.
        Assert.Contains("Added 0 tables", (await t.Cli.OkAsync("add", "table", "items", "herd=h")).Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task a_table_that_does_not_exist_is_refused_naming_it_and_the_database()
    {
        await using var t = await WithOneDatabaseAsync(nameof(a_table_that_does_not_exist_is_refused_naming_it_and_the_database));
        await t.Cli.RefusesAsync(Refusal.Failure, ["add", "table", "itemz", "herd=h"], "\"public\".\"itemz\" does not exist in database db1");
        await t.Cli.RefusesAsync(Refusal.Failure, ["add", "all", "tables", "herd=h", "schema=nowhere"], "No table with a primary key", "schema nowhere");
        await t.Cli.RefusesAsync(Refusal.Failure, ["add", "table", "items", "herd=h", "db=dbx"], "Unknown database 'dbx'");
    }

    [Fact]
    public async Task malformed_table_lines_are_usage_errors_that_change_nothing()
    {
        await using var t = await WithOneDatabaseAsync(nameof(malformed_table_lines_are_usage_errors_that_change_nothing));
        (string[] Args, string Says)[] cases =
        [
            (["add", "table", "items"], "Which herd?"),
            (["add", "table", "herd=h"], "Which tables?"),
            (["add", "table", "\"unterminated", "herd=h"], "Unterminated quoted name"),
            (["add", "table", "a.b.c", "herd=h"], "not a table name"),
            (["add", "table", "items", "herd=h;drop"], "not a valid herd name"),
            (["add", "table", "items", "herd=h", "colour=blue"], "colour"),
            (["add", "all", "tables"], "Which herd?"),
            (["add", "all", "tables", "herd=h", "now"], "Unexpected 'now'"),
            (["add", "all", "tables", "herd=h", "colour=blue"], "colour"),
            (["add", "herd"], "ferry add herd NAME"),
            (["add", "herd", "h h"], "not a valid herd name"),
        ];
        foreach (var (args, says) in cases) await t.Cli.RefusesAsync(Refusal.Usage, args, says);
    }
}

/// <summary>Tables before any database: ferry cannot look them up, and says what to do first.</summary>
public sealed class AddTableWithoutDatabaseTests
{
    [Fact]
    public async Task add_table_before_any_database_says_to_add_one()
    {
        using var cli = new FerryCli();
        await cli.OkAsync("install");
        await cli.RefusesAsync(Refusal.Failure, ["add", "all", "tables", "herd=h"], "No database yet", "ferry add database");
    }
}
