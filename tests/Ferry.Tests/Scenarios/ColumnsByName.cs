using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// Databases that hold a table's columns in another physical order (a column dropped and added again, a table made
/// by a migration tool elsewhere), or hold more columns than the masters: values go by column name everywhere —
/// read, apply, conflict images, compare and copy — and the extra columns keep their values or get their defaults.
/// </summary>
[Collection("scenario-servers")]
public sealed class ColumnsByName(ServerFixture servers)
{
    private static readonly string[] Columns = ["id", "a", "b", "c"];

    [Fact]
    public async Task a_table_in_another_column_order_on_a_master_and_the_replica_replicates_by_name()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_table_in_another_column_order_on_a_master_and_the_replica_replicates_by_name),
            "CREATE TABLE items (id int PRIMARY KEY, a text, b int, c timestamptz)", ["public.items"]);
        // db2 as after `DROP COLUMN id`-style churn; db3 a replica with a column of its own.
        await servers[1].ExecuteAsync(t.Database, $"SET ROLE {RestrictedRole.Owner}; DROP TABLE items; " +
            "CREATE TABLE items (b int, c timestamptz, a text, id int PRIMARY KEY); RESET ROLE", default);
        await servers[2].ExecuteAsync(t.Database, $"SET ROLE {RestrictedRole.Owner}; DROP TABLE items; " +
            "CREATE TABLE items (c timestamptz, note text NOT NULL DEFAULT 'replica''s own', a text, id int PRIMARY KEY, b int); RESET ROLE", default);
        foreach (var s in new[] { 1, 2 }) await RestrictedRole.GrantTablesAsync(servers[s], t.Database, ["public.items"], default);
        await t.TwoMastersAndReplicaAsync();
        await t.Cli.OkAsync("start");

        await t.ExecAsync(0, "INSERT INTO items VALUES (1, 'a1', 1, '2024-01-01'), (2, 'a2', 2, '2024-01-02'), (3, 'a3', 3, NULL)");
        await t.ExecAsync(1, "INSERT INTO items (id, a, b) VALUES (4, 'a4', 4), (5, 'a5', 5)");
        await ConvergedAsync(t);
        await t.ExecAsync(2, "UPDATE items SET note = 'kept' WHERE id = 1");
        // Non-key and key updates and deletes on both masters: the finding was `SET b = 7 WHERE id = 1` making a row 7.
        await t.ExecAsync(1, "UPDATE items SET b = 7 WHERE id = 1");
        await t.ExecAsync(0, "UPDATE items SET id = 20 WHERE id = 2; DELETE FROM items WHERE id = 3");
        await t.ExecAsync(1, "DELETE FROM items WHERE id = 5; UPDATE items SET id = 40, a = 'moved' WHERE id = 4");
        // Past what rides along with a small chunk: these travel by COPY.
        await t.ExecAsync(0, "INSERT INTO items SELECT g, 'bulk' || g, g, '2024-02-01' FROM generate_series(100, 2600) AS g");
        await ConvergedAsync(t);

        // A conflict: both masters change row 1 while the relay is away; the later edit (db2's) wins everywhere.
        await t.Cli.OkAsync("stop");
        await t.ExecAsync(0, "UPDATE items SET a = 'db1 edit' WHERE id = 1");
        await t.ExecAsync(1, "UPDATE items SET a = 'db2 edit, later', c = '2025-01-01' WHERE id = 1");
        await t.Cli.OkAsync("start");
        await ConvergedAsync(t);
        Assert.Equal("db2 edit, later|7|kept", await t.ScalarAsync<string>(2, "SELECT a || '|' || b || '|' || note FROM items WHERE id = 1"));
        Assert.Equal(0L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM items WHERE id IN (2, 3, 4, 5, 7)"));
        Assert.Equal("replica's own", await t.ScalarAsync<string>(2, "SELECT note FROM items WHERE id = 40"));
        // The images on db1, which decided against its own edit: each database's row, by name.
        Assert.Equal("db1 edit|7|db2 edit, later|7", await servers[0].ScalarAsync<string>(t.Database,
            "SELECT concat_ws('|', local_row->>'a', local_row->>'b', incoming_row->>'a', incoming_row->>'b') " +
            "FROM ferry.conflicts", default));
        Assert.Contains("the same on db1, db2, db3 (2504 rows)", (await t.Cli.OkAsync("compare", "s")).Out, StringComparison.Ordinal);

        // A copy into the replica goes by name too.
        await t.Cli.OkAsync("stop");
        await t.Cli.OkAsync("copy", "s", "to=db3");
        await ConvergedAsync(t);
        Assert.Contains("the same on db1, db2, db3 (2504 rows)", (await t.Cli.OkAsync("compare", "s")).Out, StringComparison.Ordinal);
    }

    private static Task ConvergedAsync(Topology t) =>
        Fingerprint.ConvergedAsync(t, [Fingerprint.ByNameSql("items", Columns)], [0, 1, 2], TimeSpan.FromSeconds(20));
}
