using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>
/// Row-level security hides rows from ferry's role without an error. `add sync`, `compare` and the pairs refuse a
/// table ferry cannot see in full, with the policy to create as the owner; with it, rows replicate.
/// </summary>
[Collection("servers")]
public sealed class RowSecurityTests(ServerFixture servers)
{
    private const string Schema = """
        CREATE TABLE notes (id int PRIMARY KEY, body text);
        ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
        CREATE POLICY app_only ON notes TO app_writer USING (true) WITH CHECK (true)
        """;

    private static readonly string Fix =
        $"CREATE POLICY ferry_sees_all ON public.notes FOR ALL TO \"{RestrictedRole.User}\" USING (true) WITH CHECK (true);";

    [Fact]
    public async Task a_table_ferry_cannot_see_in_full_is_refused_until_the_policy_is_created()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_table_ferry_cannot_see_in_full_is_refused_until_the_policy_is_created),
            Schema, ["public.notes"]);
        await t.AddDatabasesAsync(2);
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:target");
        await t.Cli.OkAsync("add", "table", "notes", "herd=h");

        await t.Cli.RefusesAsync(Refusal.Failure, ["add", "sync", "s", "herd=h", "dbs=g"],
            "Table public.notes in database db1 has row-level security enabled", Fix, "ALTER ROLE \"ferry_repl\" BYPASSRLS;");
        await Refusal.AssertNoFerryObjectsAsync(servers, t.Database);

        for (var i = 0; i < 2; i++)
            await servers[i].ExecuteAsync(t.Database, $"SET ROLE {RestrictedRole.Owner}; {Fix}", default);
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
        await t.ExecAsync(0, "INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 21) g");
        await t.Cli.OkAsync("debug", "run-once", "s", "db1", "db2");
        Assert.Equal(21L, await t.ScalarAsync<long>(1, "SELECT count(*) FROM notes"));
        Assert.Contains("the same on db1, db2 (21 rows)", (await t.Cli.OkAsync("compare", "s")).Out, StringComparison.Ordinal);

        // The policy dropped again on the target: compare refuses rather than report "the same", and so does the pair.
        await servers[1].ExecuteAsync(t.Database, "DROP POLICY ferry_sees_all ON notes", default);
        await t.ExecAsync(0, "INSERT INTO notes VALUES (22, 'unseen')");
        var compare = await t.Cli.RunAsync("compare", "s");
        Refusal.AssertRefused(compare, Refusal.Failure, "ferry compare s", "Table public.notes in database db2", Fix);
        Assert.DoesNotContain("the same", compare.Out, StringComparison.Ordinal);
        var pair = await t.Cli.RunAsync("debug", "run-once", "s", "db1", "db2");
        Assert.NotEqual(0, pair.ExitCode);
        Assert.Contains(Fix, pair.All, StringComparison.Ordinal);
    }
}
