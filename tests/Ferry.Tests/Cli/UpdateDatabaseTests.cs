using Ferry.Local;
using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>`ferry update database`: a database that moved keeps its syncs; another database at the address is refused.</summary>
[Collection("servers")]
public sealed class UpdateDatabaseTests(ServerFixture servers)
{
    private const string Schema = "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)";

    [Fact]
    public async Task a_database_at_a_new_port_keeps_its_syncs_and_the_relay_follows_it()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_database_at_a_new_port_keeps_its_syncs_and_the_relay_follows_it),
            Schema, ["public.items"]);
        await t.OneSourceTwoTargetsAsync();
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO items VALUES (1, 'before')");
        await t.ConvergedAsync("public.items", [0, 1, 2]);

        // The same server behind another port: db2 "moved".
        await using var moved = FaultProxy.Start(servers[1], TimeSpan.FromMinutes(5));
        var r = await t.Cli.OkAsync("update", "database", "db2", $"port={moved.Port}", "dbhost=127.0.0.1");
        Assert.Contains($"Updated database db2 ({RestrictedRole.User}@127.0.0.1:{moved.Port}/{t.Database}) (was ", r.Out, StringComparison.Ordinal);
        // Only the pair into db2 reconnects; db1's listener and the pair into db3 go on.
        Assert.Contains("reloaded: sync s restarted 1 of 2 pairs", r.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("listener", r.Out, StringComparison.Ordinal);
        Assert.Contains(moved.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), (await t.Cli.OkAsync("list", "databases")).Out,
            StringComparison.Ordinal);
        Assert.Matches(@"(?m)^g\s+db1:source, db2:target, db3:target\s*$", (await t.Cli.OkAsync("list", "dbgroups")).Out);
        await t.ExecAsync(0, "INSERT INTO items VALUES (2, 'after the move')");
        await t.ConvergedAsync("public.items", [0, 1, 2]);
        Assert.True(moved.ConnectionsAccepted > 0, "the relay did not use db2's new address");

        // db2's address now reaching db3's database: another ferry node, refused with the re-copy hint.
        await t.Cli.RefusesAsync(Refusal.Failure, ["update", "database", "db2", $"port={servers[2].Port}"],
            "is not the database ferry knew as db2", "replaced=yes", "ferry copy SYNC to=db2 from=SOURCE");

        // db1 moves, then its old address dies: the node id its targets recorded for it still tells db3's apart.
        var db1Link = FaultProxy.Start(servers[0], TimeSpan.FromMinutes(5));
        // A source's listener follows its database too.
        Assert.Contains("reloaded: sync s restarted (2 pairs); listener on db1 restarted",
            (await t.Cli.OkAsync("update", "database", "db1", $"port={db1Link.Port}")).Out, StringComparison.Ordinal);
        await db1Link.DisposeAsync();
        await t.Cli.RefusesAsync(Refusal.Failure, ["update", "database", "db1", $"port={servers[2].Port}"],
            "is not the database ferry knew as db1");
        var back = await t.Cli.OkAsync("update", "database", "db1", $"port={servers[0].Port}");
        Assert.DoesNotContain("could not confirm", back.Out, StringComparison.Ordinal);
        await t.ExecAsync(0, "INSERT INTO items VALUES (3, 'back')");
        await t.ConvergedAsync("public.items", [0, 1, 2]);
    }

    [Fact]
    public async Task bad_updates_are_refused_and_change_nothing()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(bad_updates_are_refused_and_change_nothing), Schema, ["public.items"]);
        await t.AddDatabasesAsync(2);
        await t.Cli.RefusesAsync(Refusal.Usage, ["update", "database", "db1", "port=notaport"], "port must be a number");
        await t.Cli.RefusesAsync(Refusal.Usage, ["update", "database", "db1", "colour=blue"], "Unknown key 'colour' for 'update database'");
        await t.Cli.RefusesAsync(Refusal.Usage, ["update", "database", "db1"], "Nothing to change");
        await t.Cli.RefusesAsync(Refusal.Usage, ["update", "database", "db1", "sslmode=sometimes"], "sslmode must be one of");
        await t.Cli.RefusesAsync(Refusal.Usage, ["update", "database", "db1", "host=a", "dbhost=b"], "mean the same thing");
        await t.Cli.RefusesAsync(Refusal.Failure, ["update", "database", "nosuch", "port=5432"], "Unknown database 'nosuch'");
        await t.Cli.RefusesAsync(Refusal.Failure, ["update", "database", "db1", "pass=wrong"], "Password authentication failed", "pass=");
        // Nothing installed anywhere yet: a new database at the address is not another ferry node.
        var r = await t.Cli.OkAsync("update", "database", "db1", "application_name=moved");
        Assert.Contains("Updated database db1", r.Out, StringComparison.Ordinal);
    }
}
