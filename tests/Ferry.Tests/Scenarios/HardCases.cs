using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>DESIGN's hard cases between two masters: each ends in one outcome on every database, recorded.</summary>
[Collection("scenario-servers")]
public sealed class HardCases(ServerFixture servers)
{
    private static async Task<Topology> StartAsync(ServerFixture servers, string name, string schema, string[] tables)
    {
        var t = await Topology.CreateAsync(servers, name, schema, tables);
        await t.TwoMastersAndReplicaAsync();
        return t;
    }

    [Fact]
    public async Task two_masters_inserting_the_same_email_under_different_ids_converge_with_the_conflict_recorded()
    {
        await using var t = await StartAsync(servers, nameof(two_masters_inserting_the_same_email_under_different_ids_converge_with_the_conflict_recorded),
            "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text)", ["public.users"]);
        // Both inserts commit before the relay runs: neither master saw the other's row.
        await t.ExecAsync(0, "INSERT INTO users VALUES (1, 'ann@example.com', 'ann in the office')");
        await t.ExecAsync(1, "INSERT INTO users VALUES (2, 'ann@example.com', 'ann in the cloud, later')");
        await t.ExecAsync(0, "INSERT INTO users VALUES (3, 'bob@example.com', 'bob')");
        await t.Cli.OkAsync("start");

        await t.ConvergedAsync("users", [0, 1, 2]);
        Assert.Equal("2,3", await t.ScalarAsync<string>(2, "SELECT string_agg(id::text, ',' ORDER BY id) FROM users"));
        var conflicts = await t.Cli.OkAsync("conflicts", "--json");
        Assert.Contains("unique users_email_key", conflicts.Out);
        var status = await t.Cli.OkAsync("status");
        Assert.DoesNotContain("unique_violation", status.All);
    }

    private const string Orders = """
        CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL);
        CREATE TABLE order_lines (order_id int NOT NULL REFERENCES orders (id), line int NOT NULL, item text NOT NULL,
                                  PRIMARY KEY (order_id, line))
        """;

    [Fact]
    public async Task orders_and_lines_written_on_both_masters_converge_without_foreign_key_errors()
    {
        await using var t = await StartAsync(servers, nameof(orders_and_lines_written_on_both_masters_converge_without_foreign_key_errors),
            Orders, ["public.orders", "public.order_lines"]);
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO orders SELECT g, 'office ' || g FROM generate_series(1, 200, 2) g; " +
                             "INSERT INTO order_lines SELECT g, l, 'item' FROM generate_series(1, 200, 2) g, generate_series(1, 3) l");
        await t.ExecAsync(1, "INSERT INTO orders SELECT g, 'cloud ' || g FROM generate_series(2, 200, 2) g; " +
                             "INSERT INTO order_lines SELECT g, l, 'item' FROM generate_series(2, 200, 2) g, generate_series(1, 3) l");
        await t.ConvergedAsync("order_lines", [0, 1, 2]);
        await t.ExecAsync(0, "DELETE FROM order_lines WHERE order_id <= 20; DELETE FROM orders WHERE id <= 20");
        await t.ConvergedAsync("orders", [0, 1, 2]);
        await t.ConvergedAsync("order_lines", [0, 1, 2]);
        Assert.Equal(180L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM orders"));
    }

    [Fact]
    public async Task a_parent_deleted_on_one_master_while_a_child_is_inserted_on_the_other_ends_the_same_everywhere()
    {
        await using var t = await StartAsync(servers, nameof(a_parent_deleted_on_one_master_while_a_child_is_inserted_on_the_other_ends_the_same_everywhere),
            Orders, ["public.orders", "public.order_lines"]);
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO orders VALUES (1, 'ann'), (2, 'bob'); INSERT INTO order_lines VALUES (1, 1, 'tea'), (2, 1, 'jam')");
        await t.ConvergedAsync("order_lines", [0, 1, 2]);

        // The race: the relay is away while the office deletes order 1 and the cloud adds a line to it.
        await t.Cli.OkAsync("stop");
        await t.ExecAsync(0, "DELETE FROM order_lines WHERE order_id = 1; DELETE FROM orders WHERE id = 1");
        await t.ExecAsync(1, "INSERT INTO order_lines VALUES (1, 2, 'scones')");
        await t.Cli.OkAsync("start");

        await t.ConvergedAsync("orders", [0, 1, 2]);
        await t.ConvergedAsync("order_lines", [0, 1, 2]);
        Assert.Equal("2", await t.ScalarAsync<string>(1, "SELECT string_agg(id::text, ',') FROM orders"));
        Assert.Equal(1L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM order_lines"));
        var conflicts = await t.Cli.OkAsync("conflicts", "--json");
        Assert.Contains("foreign key order_lines_order_id_fkey", conflicts.Out);
        var status = await t.Cli.OkAsync("status");
        Assert.DoesNotContain("retrying", status.Out);
        Assert.DoesNotContain("stopped", status.Out);
    }
}
