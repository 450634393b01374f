using Ferry.Capture;
using Ferry.Install;
using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// A key widened by its owner (int → bigint) while ferry replicates: ferry's own key columns (row versions, change
/// log) must never be what rejects a value the table accepts. They take a wider type from the start, and `ferry
/// upgrade` widens those an older ferry made with the table's own type.
/// </summary>
[Collection("scenario-servers")]
public sealed class KeyTypeChange(ServerFixture servers)
{
    private const string Schema = "CREATE TABLE items (id int PRIMARY KEY, v text)";

    [Fact]
    public async Task a_key_widened_while_the_sync_runs_takes_values_beyond_the_old_type_everywhere()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_key_widened_while_the_sync_runs_takes_values_beyond_the_old_type_everywhere),
            Schema, ["public.items"]);
        await t.TwoMastersAndReplicaAsync();
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO items VALUES (1, 'before')");
        await ConvergedAsync(t);

        foreach (var s in new[] { 0, 1, 2 }) await WidenAsync(t, s);
        await t.ExecAsync(0, "INSERT INTO items VALUES (5000000000, 'beyond integer, on db1')");
        await t.ExecAsync(1, "INSERT INTO items VALUES (5000000001, 'beyond integer, on db2'); UPDATE items SET v = 'after' WHERE id = 1");
        await ConvergedAsync(t);
        Assert.Equal(3L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM items"));
        Assert.Contains("the same on db1, db2, db3 (3 rows)", (await t.Cli.OkAsync("compare", "s")).Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ferry_upgrade_widens_the_key_columns_an_older_ferry_made_with_the_tables_type()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(ferry_upgrade_widens_the_key_columns_an_older_ferry_made_with_the_tables_type),
            Schema, ["public.items"]);
        await t.TwoMastersAndReplicaAsync();
        await t.ExecAsync(0, "INSERT INTO items VALUES (1, 'before')");
        // What ferry 2 made: ferry's key columns of the table's own type, integer.
        var names = new CaptureNames(new TableName("public", "items"));
        foreach (var s in new[] { 0, 1, 2 })
        {
            await servers[s].ExecuteAsync(t.Database, $"ALTER TABLE {names.RowVersions} ALTER COLUMN id TYPE integer; " +
                                                      $"ALTER TABLE {names.Log} ALTER COLUMN id TYPE integer; " +
                                                      "UPDATE ferry.meta SET value = '2' WHERE key = 'schema_version'", default);
            await WidenAsync(t, s);
        }
        // The old capture refuses what the table takes: the application's own insert fails.
        var refused = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => t.ExecAsync(0, "INSERT INTO items VALUES (5000000000, 'x')"));
        Assert.Equal("22003", refused.SqlState);

        Assert.Contains($"to ferry schema version {NodeInstaller.SchemaVersion} on db1, db2, db3", (await t.Cli.OkAsync("upgrade")).Out,
            StringComparison.Ordinal);
        Assert.Equal("bigint", await servers[0].ScalarAsync<string>(t.Database,
            $"SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '{names.Log}'::regclass AND attname = 'id'", default));
        await t.ExecAsync(0, "INSERT INTO items VALUES (5000000000, 'beyond integer, on db1')");
        await t.ExecAsync(1, "INSERT INTO items VALUES (5000000001, 'beyond integer, on db2')");
        await t.Cli.OkAsync("start");
        await ConvergedAsync(t);
        Assert.Equal(3L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM items"));
        Assert.Contains("the same on db1, db2, db3 (3 rows)", (await t.Cli.OkAsync("compare", "s")).Out, StringComparison.Ordinal);
    }

    /// <summary>As the table's owner, as a migration would.</summary>
    private Task WidenAsync(Topology t, int server) =>
        servers[server].ExecuteAsync(t.Database, $"SET ROLE {RestrictedRole.Owner}; ALTER TABLE items ALTER COLUMN id TYPE bigint; RESET ROLE", default);

    private static Task ConvergedAsync(Topology t) =>
        Fingerprint.ConvergedAsync(t, [Fingerprint.RowsSql("items")], [0, 1, 2], TimeSpan.FromSeconds(20));
}
