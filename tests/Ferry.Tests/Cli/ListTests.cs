using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>`ferry list databases | dbgroups | herds | tables | syncs | all`.</summary>
[Collection("servers")]
public sealed class ListTests(ServerFixture servers)
{
    [Fact]
    public async Task list_shows_each_kind_of_configuration()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(list_shows_each_kind_of_configuration),
            "CREATE TABLE items (id int PRIMARY KEY); CREATE TABLE parts (id int PRIMARY KEY)", ["public.items", "public.parts"]);
        await t.AddDatabasesAsync(2);
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:target");
        await t.Cli.OkAsync("add", "all", "tables", "herd=h");
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");

        var dbs = (await t.Cli.OkAsync("list", "databases")).Out;
        Assert.Matches(@"(?m)^database\s+dbname\s+host\s+port\s+user\s+password\s*$", dbs);
        Assert.Matches($@"(?m)^db1\s+{t.Database}\s+127\.0\.0\.1\s+{servers[0].Port}\s+{RestrictedRole.User}\s+stored\s*$", dbs);
        Assert.Matches($@"(?m)^db2\s+{t.Database}\s+127\.0\.0\.1\s+{servers[1].Port}\s+", dbs);
        Assert.Matches(@"(?m)^g\s+db1:source, db2:target\s*$", (await t.Cli.OkAsync("list", "dbgroups")).Out);
        Assert.Matches(@"(?m)^h\s+""public"".""items"", ""public"".""parts""\s*$", (await t.Cli.OkAsync("list", "herds")).Out);
        var tables = (await t.Cli.OkAsync("list", "tables")).Out;
        Assert.Matches(@"(?m)^""public"".""items""\s+h\s+\(sync's\)\s*$", tables);
        Assert.Matches(@"(?m)^""public"".""parts""\s+h\s+\(sync's\)\s*$", tables);
        Assert.Matches(@"(?m)^s\s+h\s+g\s+latest\s+active\s*$", (await t.Cli.OkAsync("list", "syncs")).Out);

        // Bucardo's singular and relgroup spellings, and `list` alone for everything.
        Assert.Equal((await t.Cli.OkAsync("list", "herds")).Out, (await t.Cli.OkAsync("list", "relgroup")).Out);
        Assert.Equal((await t.Cli.OkAsync("list", "databases")).Out, (await t.Cli.OkAsync("list", "db")).Out);
        var all = (await t.Cli.OkAsync("list")).Out;
        Assert.Equal(all, (await t.Cli.OkAsync("list", "all")).Out);
        foreach (var section in new[] { "== databases", "== dbgroups", "== herds", "== syncs" })
            Assert.Contains(section, all, StringComparison.Ordinal);
        Assert.Contains(dbs.TrimEnd(), all, StringComparison.Ordinal);
    }
}

/// <summary>Listing an empty store, and bad list lines: no servers needed.</summary>
public sealed class ListUsageTests : InstalledStoreTests
{
    [Fact]
    public async Task an_empty_store_lists_headers_only()
    {
        Assert.Equal("sync  herd  dbgroup  conflict_strategy  status", (await Cli.OkAsync("list", "syncs")).Out.Trim());
        Assert.Equal("table  herd  conflict_strategy", (await Cli.OkAsync("list", "tables")).Out.Trim());
    }

    [Fact]
    public async Task an_unknown_kind_is_a_usage_error_naming_the_kinds() =>
        await Cli.RefusesAsync(Refusal.Usage, ["list", "widgets"], "Cannot list 'widgets'", "databases, dbgroups, herds, tables, sequences, syncs");

    [Fact]
    public async Task two_kinds_at_once_is_a_usage_error() =>
        await Cli.RefusesAsync(Refusal.Usage, ["list", "databases", "syncs"], "one kind at a time");

    [Fact]
    public async Task an_unknown_option_is_a_usage_error() =>
        await Cli.RefusesAsync(Refusal.Usage, ["list", "databases", "colour=blue"], "colour");
}
