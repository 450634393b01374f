using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// Schema changes rolled out one database at a time while both masters write: the tables whose ends disagree are
/// held on the pairs concerned, and when every database has the change, every row changed meanwhile arrives in its
/// full new shape. Nothing diverges, and `ferry compare` agrees.
/// </summary>
[Collection("scenario-servers")]
public sealed class SchemaRollouts(ServerFixture servers)
{
    private static async Task AlterAsync(Topology t, int server, string sql) =>
        await t.Servers[server].ExecuteAsync(t.Database, $"SET ROLE {RestrictedRole.Owner}; {sql}; RESET ROLE;", default);

    [Fact]
    public async Task a_column_added_one_database_at_a_time_ends_with_every_value_everywhere()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_column_added_one_database_at_a_time_ends_with_every_value_everywhere),
            "CREATE TABLE items (id int PRIMARY KEY, name text)", ["public.items"]);
        await t.TwoMastersAndReplicaAsync();
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO items VALUES (1, 'one'), (2, 'two')");
        await t.ConvergedAsync("items", [0, 1, 2]);

        await AlterAsync(t, 0, "ALTER TABLE items ADD COLUMN c int");
        await t.ExecAsync(0, "INSERT INTO items VALUES (3, 'three', 30)");
        await t.ExecAsync(0, "UPDATE items SET c = 10 WHERE id = 1");
        await t.ExecAsync(1, "INSERT INTO items VALUES (4, 'four')");
        await t.ExecAsync(1, "UPDATE items SET name = 'two, from db2' WHERE id = 2");
        // db1's rows wait for db2 and db3 to have the column; status says which and why.
        var held = await Eventually.UntilAsync(async () => (await t.Cli.OkAsync("status")).Out,
            s => s.Contains("db1 -> db2", StringComparison.Ordinal) && s.Contains("column \"c\" of \"public\".\"items\" on db1 is missing on db2", StringComparison.Ordinal),
            TimeSpan.FromSeconds(20), "status to name the held table");
        Assert.Contains("Sync s: degraded", held);
        Assert.DoesNotContain("unreachable", held);

        await AlterAsync(t, 1, "ALTER TABLE items ADD COLUMN c int");
        await t.ExecAsync(1, "INSERT INTO items VALUES (5, 'five', 50)");
        await AlterAsync(t, 2, "ALTER TABLE items ADD COLUMN c int");

        var byName = Fingerprint.RowsSql("items", "(t.id, t.name, t.c)::text");
        await Fingerprint.ConvergedAsync(t, [byName], [0, 1, 2], TimeSpan.FromSeconds(30));
        Assert.Equal("1 one 10|2 two, from db2|3 three 30|4 four|5 five 50",
            await t.ScalarAsync<string>(2, "SELECT string_agg(concat_ws(' ', id, name, c), '|' ORDER BY id) FROM items"));
        await t.Cli.OkAsync("compare", "s");
        await Eventually.UntilAsync(async () => (await t.Cli.OkAsync("status")).Out, s => s.Contains("Sync s: good", StringComparison.Ordinal),
            TimeSpan.FromSeconds(20), "the sync to be good again");
    }

    [Fact]
    public async Task ferry_ddl_adds_a_column_everywhere_as_the_owner_replicas_first_and_the_sync_is_good_after()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(ferry_ddl_adds_a_column_everywhere_as_the_owner_replicas_first_and_the_sync_is_good_after),
            "CREATE TABLE items (id int PRIMARY KEY, name text)", ["public.items"]);
        // A login that may change the tables: a member of their owner's role (ferry's own role may not).
        foreach (var s in t.Servers.Servers)
            await s.ExecuteAsync("postgres", $"""
                DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app_dba') THEN CREATE ROLE app_dba; END IF; END $$;
                ALTER ROLE app_dba LOGIN PASSWORD 'dba-secret'; GRANT {RestrictedRole.Owner} TO app_dba;
                """, default);
        await t.TwoMastersAndReplicaAsync();
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO items VALUES (1, 'one')");
        await t.ConvergedAsync("items", [0, 1, 2]);

        t.Cli.Environment["PGPASSWORD"] = "dba-secret";
        var ran = await t.Cli.OkAsync("ddl", "s", "ALTER TABLE items ADD COLUMN c int CHECK (c >= 0)", "as=app_dba");
        Assert.Contains("Order: db3, db1, db2", ran.Out);
        await t.ExecAsync(0, "INSERT INTO items VALUES (2, 'two', 2)");
        await t.ExecAsync(1, "UPDATE items SET c = 1 WHERE id = 1");
        var byName = Fingerprint.RowsSql("items", "(t.id, t.name, t.c)::text");
        await Fingerprint.ConvergedAsync(t, [byName], [0, 1, 2], TimeSpan.FromSeconds(30));
        Assert.Equal("1 one 1|2 two 2", await t.ScalarAsync<string>(2, "SELECT string_agg(concat_ws(' ', id, name, c), '|' ORDER BY id) FROM items"));
        await Eventually.UntilAsync(async () => (await t.Cli.OkAsync("status")).Out, s => s.Contains("Sync s: good", StringComparison.Ordinal),
            TimeSpan.FromSeconds(20), "the sync to be good");
    }

    [Fact]
    public async Task a_column_dropped_on_the_replica_first_then_on_the_masters_converges()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_column_dropped_on_the_replica_first_then_on_the_masters_converges),
            "CREATE TABLE items (id int PRIMARY KEY, name text, note text)", ["public.items"]);
        await t.TwoMastersAndReplicaAsync();
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO items VALUES (1, 'one', 'n1'), (2, 'two', 'n2')");
        await t.ConvergedAsync("items", [0, 1, 2]);

        await AlterAsync(t, 2, "ALTER TABLE items DROP COLUMN note");
        await t.ExecAsync(0, "INSERT INTO items VALUES (3, 'three', 'n3')");
        await t.ExecAsync(1, "UPDATE items SET name = 'two, from db2', note = 'x' WHERE id = 2");
        await AlterAsync(t, 0, "ALTER TABLE items DROP COLUMN note");
        await t.ExecAsync(0, "INSERT INTO items VALUES (4, 'four')");
        await t.ExecAsync(1, "INSERT INTO items VALUES (5, 'five', 'n5')");
        await AlterAsync(t, 1, "ALTER TABLE items DROP COLUMN note");
        await t.ExecAsync(1, "UPDATE items SET name = 'one, from db2' WHERE id = 1");

        await t.ConvergedAsync("items", [0, 1, 2]);
        Assert.Equal("1 one, from db2|2 two, from db2|3 three|4 four|5 five",
            await t.ScalarAsync<string>(2, "SELECT string_agg(concat_ws(' ', id, name), '|' ORDER BY id) FROM items"));
        await t.Cli.OkAsync("compare", "s");
    }
}
