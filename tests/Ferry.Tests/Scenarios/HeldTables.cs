using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// One table that cannot be applied on one database holds back that table on that pair only: the pair's other
/// tables flow at their usual pace, status names the table, the database and the cause, and once the cause is gone
/// the table resumes with every change it held.
/// </summary>
[Collection("scenario-servers")]
public sealed class HeldTables(ServerFixture servers)
{
    [Fact]
    public async Task a_constraint_only_the_replica_has_holds_its_table_and_the_others_flow()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_constraint_only_the_replica_has_holds_its_table_and_the_others_flow),
            "CREATE TABLE accounts (id int PRIMARY KEY, balance int); CREATE TABLE notes (id int PRIMARY KEY, body text)",
            ["public.accounts", "public.notes"]);
        await t.Servers[2].ExecuteAsync(t.Database,
            $"SET ROLE {RestrictedRole.Owner}; ALTER TABLE accounts ADD CONSTRAINT small CHECK (balance < 100); RESET ROLE;", default);
        await t.TwoMastersAndReplicaAsync();
        await t.Cli.OkAsync("start");

        await t.ExecAsync(0, "INSERT INTO accounts VALUES (1, 500), (2, 5)");
        var held = await Eventually.UntilAsync(async () => (await t.Cli.OkAsync("status")).Out,
            s => s.Contains("\"public\".\"accounts\"", StringComparison.Ordinal) && s.Contains("\"small\"", StringComparison.Ordinal),
            TimeSpan.FromSeconds(20), "status to name the held table");
        Assert.Contains("db1 -> db3", held);
        Assert.Contains("on db3", held);
        Assert.Contains("Sync s: degraded", held);
        Assert.DoesNotContain("unreachable", held);
        // The relay's endpoint says the same, for machines.
        var endpoint = System.Text.RegularExpressions.Regex.Match(held, @"http://127\.0\.0\.1:\d+/").Value;
        using var http = new HttpClient();
        var json = await http.GetStringAsync(endpoint + "status");
        Assert.Contains("\"held_tables\"", json);
        Assert.Contains("\"target\": \"db3\"", json);
        Assert.Contains("ferry_pair_tables_held{sync=\"s\",source=\"db1\",target=\"db3\"} 1", await http.GetStringAsync(endpoint + "metrics"));

        // The other table of the same pair flows meanwhile, at its usual pace.
        await t.ExecAsync(0, "INSERT INTO notes VALUES (1, 'still flowing')");
        await t.ConvergedAsync("notes", [0, 1, 2], TimeSpan.FromSeconds(10));
        await t.ExecAsync(0, "UPDATE accounts SET balance = 6 WHERE id = 2");
        await t.ConvergedAsync("accounts", [0, 1]);
        Assert.Equal(0L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM accounts"));

        await t.Servers[2].ExecuteAsync(t.Database,
            $"SET ROLE {RestrictedRole.Owner}; ALTER TABLE accounts DROP CONSTRAINT small; RESET ROLE;", default);
        await t.Cli.OkAsync("kick", "s");
        await t.ConvergedAsync("accounts", [0, 1, 2]);
        await t.ConvergedAsync("notes", [0, 1, 2]);
        await t.Cli.OkAsync("compare", "s");
        var after = await Eventually.UntilAsync(async () => (await t.Cli.OkAsync("status")).Out,
            s => s.Contains("Sync s: good", StringComparison.Ordinal), TimeSpan.FromSeconds(20), "the sync to be good again");
        Assert.DoesNotContain("Held tables", after);
    }
}
