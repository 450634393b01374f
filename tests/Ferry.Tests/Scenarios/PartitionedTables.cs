using Ferry.Tests.Cli;
using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// A partitioned table is replicated whichever partition a write goes to (named directly or routed through the
/// partitioned table), including partitions created after the sync was added, with no grant on them; a row that
/// moves between partitions moves everywhere, and a TRUNCATE of the partitioned table reaches every database.
/// Partitions are never herd tables of their own; tables in an inheritance tree are skipped or refused.
/// </summary>
[Collection("scenario-servers")]
public sealed class PartitionedTables(ServerFixture servers)
{
    private const string Schema = """
        CREATE TABLE events (id int, at date, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
        CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
        CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        CREATE TABLE legacy (id int PRIMARY KEY, v text);
        CREATE TABLE legacy_archive (archived date) INHERITS (legacy)
        """;

    [Theory]
    [InlineData("trigger")]
    [InlineData("wal")]
    public async Task writes_into_any_partition_old_or_new_reach_every_database(string capture)
    {
        await using var t = await Topology.CreateAsync(servers, nameof(writes_into_any_partition_old_or_new_reach_every_database),
            Schema, ["public.events"], capture: capture); // ferry is granted the partitioned table only, as a user would
        foreach (var s in servers.Servers)
            await s.ExecuteAsync(t.Database, $"GRANT SELECT, INSERT, UPDATE, DELETE ON events_2023, events_2024 TO {RestrictedRole.Writer}; " +
                                             $"GRANT SELECT ON legacy, legacy_archive TO {RestrictedRole.User}", default);
        await t.AddDatabasesAsync();
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:source", "db3:target");

        var all = await t.Cli.OkAsync("add", "all", "tables", "herd=h");
        Assert.Contains("Added 1 table from db1 to herd h: \"public\".\"events\".", all.Out, StringComparison.Ordinal);
        Assert.Contains("Skipped: Table \"public\".\"legacy\" is inherited by \"public\".\"legacy_archive\"", all.Out, StringComparison.Ordinal);
        Assert.Contains("Skipped: Table \"public\".\"legacy_archive\" inherits from \"public\".\"legacy\"", all.Out, StringComparison.Ordinal);
        await t.Cli.RefusesAsync(Refusal.Failure, ["add", "table", "events_2024", "herd=h"],
            "Table \"public\".\"events_2024\" is a partition of \"public\".\"events\" in database db1", "Add \"public\".\"events\" instead.");
        await t.Cli.RefusesAsync(Refusal.Failure, ["add", "table", "legacy", "herd=h"], "table inheritance, INHERITS");

        // Creating the row trigger clones it onto the existing partitions: that needs TRIGGER on each of them. WAL
        // capture installs no trigger, and asks for no such grant.
        if (capture == "trigger")
            await t.Cli.RefusesAsync(Refusal.Failure, ["add", "sync", "s", "herd=h", "dbs=g"],
                $"GRANT TRIGGER ON public.events_2023, public.events_2024 TO \"{RestrictedRole.User}\";");
        foreach (var s in servers.Servers)
            await s.ExecuteAsync(t.Database, $"GRANT TRIGGER ON events_2023, events_2024 TO {RestrictedRole.User}", default);
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
        await t.Cli.OkAsync("start");

        // A partition made after the sync, by the application's owner, with no grant to ferry at all.
        foreach (var s in servers.Servers)
            await s.ExecuteAsync(t.Database,
                $"SET ROLE {RestrictedRole.Owner}; CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01'); " +
                $"RESET ROLE; GRANT SELECT, INSERT, UPDATE, DELETE ON events_2025 TO {RestrictedRole.Writer}", default);
        await t.ExecAsync(0, "INSERT INTO events_2024 SELECT g, '2024-06-01', 'db1 direct' FROM generate_series(1, 50) g");
        await t.ExecAsync(0, "INSERT INTO events SELECT g, '2025-02-01', 'db1 routed' FROM generate_series(51, 100) g");
        await t.ExecAsync(1, "INSERT INTO events_2025 SELECT g, '2025-03-01', 'db2 new partition' FROM generate_series(101, 150) g");
        await t.ConvergedAsync("events", [0, 1, 2]);
        Assert.Equal(150L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM events"));

        // A row moved to another partition (a delete and an insert under one key), an update and a delete made in a
        // partition directly, on the other master.
        await t.ExecAsync(1, "UPDATE events SET at = '2023-06-01', v = 'moved' WHERE id <= 10");
        await t.ExecAsync(0, "UPDATE events_2025 SET v = 'edited' WHERE id BETWEEN 51 AND 60; DELETE FROM events_2025 WHERE id > 140");
        await t.ConvergedAsync("events", [0, 1, 2]);
        Assert.Equal(10L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM events_2023 WHERE v = 'moved'"));
        Assert.Equal(140L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM events"));

        // A TRUNCATE of the partitioned table empties every partition everywhere; what is written after it stays.
        await t.ExecAsync(1, "TRUNCATE events");
        await t.ExecAsync(0, "INSERT INTO events_2023 VALUES (1000, '2023-01-02', 'after the truncate')");
        await t.ConvergedAsync("events", [0, 1, 2]);
        Assert.Equal(1L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM events"));
    }
}
