using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>`ferry add sync` that succeeds: what it installs, records and says.</summary>
[Collection("servers")]
public sealed class AddSyncTests(ServerFixture servers)
{
    private const string Schema = """
        CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
        CREATE TABLE "we""ird; name" (id int PRIMARY KEY, "odd col" text)
        """;

    private const string WeirdSql = "public.\"we\"\"ird; name\"";

    private async Task<Topology> ReadyAsync(string test, int databases = 3)
    {
        var t = await Topology.CreateAsync(servers, test, Schema, ["public.items", WeirdSql]);
        await t.AddDatabasesAsync(databases);
        return t;
    }

    [Fact]
    public async Task add_sync_installs_the_capture_in_every_database_and_lists_the_sync()
    {
        await using var t = await ReadyAsync(nameof(add_sync_installs_the_capture_in_every_database_and_lists_the_sync));
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:target", "db3:target");
        await t.Cli.OkAsync("add", "table", "items", "herd=h");
        // Bucardo's sync options that make no difference to ferry are accepted, so Bucardo scripts run unchanged.
        var r = await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g", "autokick=1", "checktime=10");
        Assert.Contains("Added sync s: herd h over dbgroup g (db1:source, db2:target, db3:target), conflict_strategy=latest",
            r.Out, StringComparison.Ordinal);
        Assert.Contains("ferry start", r.Out, StringComparison.Ordinal);
        Assert.Contains("Capture installed on db1.", r.Out, StringComparison.Ordinal);
        // Insert, update, delete and truncate are captured where pairs read: the source. The targets have the
        // row-version table only: nothing reads there, and triggers would tax every row ferry writes.
        Assert.Equal(4L, await Refusal.CaptureTriggersAsync(servers[0], t.Database, "public.items"));
        foreach (var target in new[] { 1, 2 })
            Assert.Equal(0L, await Refusal.CaptureTriggersAsync(servers[target], t.Database, "public.items"));
        Assert.Matches(@"(?m)^s\s+h\s+g\s+latest\s+active\s*$", (await t.Cli.OkAsync("list", "syncs")).Out);
    }

    [Fact]
    public async Task tables_and_inline_dbs_make_a_herd_and_a_dbgroup_named_after_the_sync()
    {
        await using var t = await ReadyAsync(nameof(tables_and_inline_dbs_make_a_herd_and_a_dbgroup_named_after_the_sync), 2);
        await t.Cli.OkAsync("add", "sync", "s", "tables=items", "dbs=db1:master,db2:slave", "conflict_strategy=bucardo_source",
            "status=inactive");
        Assert.Matches(@"(?m)^s\s+s\s+s\s+source\s+inactive\s*$", (await t.Cli.OkAsync("list", "syncs")).Out);
        Assert.Matches(@"(?m)^s\s+db1:source, db2:target\s*$", (await t.Cli.OkAsync("list", "dbgroups")).Out);
        Assert.Matches(@"(?m)^s\s+""public"".""items""\s*$", (await t.Cli.OkAsync("list", "herds")).Out);
    }

    [Fact]
    public async Task a_table_named_with_quotes_semicolons_and_spaces_replicates()
    {
        await using var t = await ReadyAsync(nameof(a_table_named_with_quotes_semicolons_and_spaces_replicates), 2);
        await t.Cli.OkAsync("add", "table", "\"we\"\"ird; name\"", "herd=h");
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=db1:source,db2:target");
        Assert.Equal(4L, await Refusal.CaptureTriggersAsync(servers[0], t.Database, WeirdSql));
        await t.ExecAsync(0, $"INSERT INTO {WeirdSql} VALUES (1, 'it''s; \"fine\"')");
        // One pass of the pipeline, in-process: no relay needed to see that every name was quoted right.
        await t.Cli.OkAsync("debug", "run-once", "s", "db1", "db2");
        Assert.Equal("(1,\"it's; \"\"fine\"\"\")", await t.DumpAsync(1, WeirdSql));
    }

    [Fact]
    public async Task a_replica_that_a_new_sync_reads_from_is_told_to_be_recopied()
    {
        await using var t = await ReadyAsync(nameof(a_replica_that_a_new_sync_reads_from_is_told_to_be_recopied));
        var first = await t.Cli.OkAsync("add", "sync", "s1", "tables=items", "dbs=db1:source,db2:target");
        Assert.DoesNotContain("re-copy", first.Out, StringComparison.OrdinalIgnoreCase);
        // db2 was a plain replica of db1; reading from it (a chain) makes it keep row versions from now on.
        var second = await t.Cli.OkAsync("add", "sync", "s2", "tables=items", "dbs=db2:source,db3:target");
        Assert.Contains("db2 was a replica of one master", second.Out, StringComparison.Ordinal);
        Assert.Contains("Re-copy db2's tables", second.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("db3 was", second.Out, StringComparison.Ordinal);
        // And db2's writes are captured from now on: s2 reads them.
        Assert.Equal(4L, await Refusal.CaptureTriggersAsync(servers[1], t.Database, "public.items"));
        Assert.Equal(0L, await Refusal.CaptureTriggersAsync(servers[2], t.Database, "public.items"));
    }

    [Fact]
    public async Task add_sync_twice_over_the_same_tables_is_fine_after_a_remove()
    {
        await using var t = await ReadyAsync(nameof(add_sync_twice_over_the_same_tables_is_fine_after_a_remove), 2);
        await t.Cli.OkAsync("add", "sync", "s", "tables=items", "dbs=db1:source,db2:target");
        await t.Cli.OkAsync("remove", "sync", "s");
        // The herd and dbgroup s made by the first add stay; name them to add the sync again.
        await t.Cli.OkAsync("add", "sync", "s", "herd=s", "dbs=s");
        Assert.Equal(4L, await Refusal.CaptureTriggersAsync(servers[0], t.Database, "public.items"));
    }
}
