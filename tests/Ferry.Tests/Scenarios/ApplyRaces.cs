using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// An application's change that commits while ferry applies a change to the same row. The application's change is
/// in the change log, not yet folded into the row versions, when the apply decides; the apply's write then waits
/// for the row. Ferry must not overwrite it unseen: the chunk is retried and the two changes decided as a conflict.
/// </summary>
[Collection("scenario-servers")]
public sealed class ApplyRaces(ServerFixture servers)
{
    [Fact]
    public async Task a_local_change_committing_during_the_apply_is_decided_not_overwritten()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_local_change_committing_during_the_apply_is_decided_not_overwritten),
            "CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL)", ["public.items"]);
        await t.TwoMastersAndReplicaAsync();
        await t.ExecAsync(0, "INSERT INTO items VALUES (1, 'start')");
        await t.Cli.OkAsync("debug", "run-once", "s", "db1", "db2");

        // The office edits first; the cloud edits the same row later, and is still in its transaction when ferry
        // brings the office's edit to the cloud.
        await t.ExecAsync(0, "UPDATE items SET v = 'office' WHERE id = 1");
        await using var cloud = await t.AppAsync(1);
        await using var tx = await cloud.BeginTransactionAsync();
        await using (var edit = new Npgsql.NpgsqlCommand("UPDATE items SET v = 'cloud' WHERE id = 1", cloud, tx))
            await edit.ExecuteNonQueryAsync();
        var apply = t.Cli.RunAsync("debug", "run-once", "s", "db1", "db2");
        await Eventually.UntilAsync(
            () => servers[1].ScalarAsync<long>(t.Database,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'", default),
            waiting => waiting > 0, TimeSpan.FromSeconds(30), "the apply to wait for the cloud's row");
        await tx.CommitAsync();

        var raced = await apply;
        Assert.NotEqual(0, raced.ExitCode);
        Assert.Contains("an application changed a row of", raced.All);
        Assert.Contains("items", raced.All);
        Assert.Equal("cloud", await t.ScalarAsync<string>(1, "SELECT v FROM items WHERE id = 1"));

        // Retried, the two edits meet as a conflict, and the later one (the cloud's) wins everywhere.
        foreach (var (source, target) in new[] { ("db1", "db2"), ("db2", "db1"), ("db1", "db3"), ("db2", "db3") })
            await t.Cli.OkAsync("debug", "run-once", "s", source, target);
        foreach (var server in new[] { 0, 1, 2 })
            Assert.Equal("cloud", await t.ScalarAsync<string>(server, "SELECT v FROM items WHERE id = 1"));
        Assert.Equal("db2", await servers[1].ScalarAsync<string>(t.Database,
            "SELECT winner FROM ferry.conflicts WHERE table_name = 'items'", default));
    }
}
