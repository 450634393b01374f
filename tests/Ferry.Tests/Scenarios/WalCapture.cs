using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// WAL capture (capture=wal): the same guarantees as trigger capture, read from a logical slot instead. Two masters
/// capture by WAL, the replica is a plain target; ferry runs as the restricted role plus REPLICATION, and the
/// publication is made by the tables' owner, as the README tells an operator to.
/// </summary>
[Collection("servers")]
public sealed class WalCapture(ServerFixture servers)
{
    private const string Schema = """
        CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, city text);
        CREATE TABLE events (id int, at date, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
        CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')
        """;

    private const string Publication =
        "CREATE PUBLICATION ferry FOR TABLE public.customers, public.events WITH (publish_via_partition_root = true)";

    /// <summary>Two masters capturing by WAL and a replica, sync s over both tables; the relay not started.</summary>
    private async Task<Topology> SetUpAsync(string name, bool publish = true)
    {
        var t = await Topology.CreateAsync(servers, name, Schema, ["public.customers", "public.events"]);
        foreach (var s in servers.Servers)
        {
            await RestrictedRole.EnsureWalRoleAsync(s, default);
            await s.ExecuteAsync(t.Database, $"GRANT SELECT, INSERT, UPDATE, DELETE ON events_2024, events_2025 TO {RestrictedRole.Writer}", default);
            // The replica captures nothing, yet add sync checks the partition grant there as for trigger capture.
            if (s == servers[2]) await s.ExecuteAsync(t.Database, $"GRANT TRIGGER ON events_2024, events_2025 TO {RestrictedRole.WalUser}", default);
            if (publish) await s.ExecuteAsync(t.Database, $"SET ROLE {RestrictedRole.Owner}; {Publication}; RESET ROLE", default);
        }
        await t.Cli.OkAsync("install");
        for (var i = 0; i < 3; i++)
            await t.Cli.OkAsync("add", "database", Topology.NodeName(i), $"dbname={t.Database}", $"host={servers[i].Host}",
                $"port={servers[i].Port}", $"user={RestrictedRole.WalUser}", $"pass={RestrictedRole.Password}",
                i < 2 ? "capture=wal" : "capture=trigger");
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:source", "db3:target");
        await t.Cli.OkAsync("add", "all", "tables", "herd=h");
        return t;
    }

    /// <summary>Slots hold WAL on servers every test shares: each test drops its own.</summary>
    private async Task DropSlotsAsync(Topology t)
    {
        await t.Cli.RunAsync("stop");
        foreach (var s in servers.Servers)
            await s.ExecuteAsync("postgres", "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots " +
                                             $"WHERE database = '{t.Database}' AND NOT active", default);
    }

    [Fact]
    public async Task add_sync_prints_the_publication_the_tables_owner_must_create()
    {
        await using var t = await SetUpAsync(nameof(add_sync_prints_the_publication_the_tables_owner_must_create), publish: false);
        var refused = await t.Cli.RunAsync("add", "sync", "s", "herd=h", "dbs=g");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.True(refused.All.Contains("CREATE PUBLICATION ferry FOR TABLE \"public\".\"customers\", \"public\".\"events\" WITH " +
                                         "(publish_via_partition_root = true);", StringComparison.Ordinal), refused.All);
        Assert.Contains("Database db1", refused.All);
        Assert.Contains("Database db2", refused.All);
        Assert.DoesNotContain("Database db3 captures", refused.All);
    }

    [Fact]
    public async Task masters_capturing_by_wal_converge_record_the_conflict_and_echo_nothing()
    {
        var t = await SetUpAsync(nameof(masters_capturing_by_wal_converge_record_the_conflict_and_echo_nothing));
        try
        {
            await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
            // No capture triggers where the slot captures; the replica has no capture either way.
            foreach (var s in new[] { 0, 1, 2 })
                Assert.Equal(0L, await servers[s].ScalarAsync<long>(t.Database,
                    "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'ferry%'", default));
            await t.Cli.OkAsync("start");

            await Task.WhenAll(
                t.ExecAsync(0, "INSERT INTO customers SELECT g, 'a' || g, 'office' FROM generate_series(1, 1000, 2) g"),
                t.ExecAsync(1, "INSERT INTO customers SELECT g, 'b' || g, 'cloud' FROM generate_series(2, 1000, 2) g"));
            await t.ExecAsync(1, "UPDATE customers SET id = id + 10000 WHERE id = 2"); // a changed key: delete plus insert
            await ConvergedAsync(t, "customers");
            // Echo: what db1 received from db2 is recorded there as db2's, never logged as db1's own change.
            Assert.Equal(0L, await servers[0].ScalarAsync<long>(t.Database,
                "SELECT count(*) FROM ferry.conflicts", default));
            await Eventually.UntilAsync(() => servers[0].ScalarAsync<long>(t.Database,
                    "SELECT count(*) FROM customers c WHERE c.id % 2 = 0 AND c.city = 'cloud'", default),
                n => n == 500, TimeSpan.FromSeconds(10), "db2's rows on db1");
            // db2's 499 other rows, the moved key and the old key's tombstone; db1's own 500 are its, none came back.
            Assert.Equal(501L, await OriginCountAsync(t, 0, "= 'db2'"));
            Assert.Equal(500L, await OriginCountAsync(t, 0, "IS NULL"));
            Assert.Equal(500L, await OriginCountAsync(t, 1, "= 'db1'"));

            // Conflicting edits made while the relay is away: the later wins everywhere and is recorded.
            await t.Cli.OkAsync("stop");
            await t.ExecAsync(0, "UPDATE customers SET city = 'office edit' WHERE id = 1");
            await t.ExecAsync(1, "UPDATE customers SET city = 'cloud edit, later' WHERE id = 1");
            var status = await t.Cli.OkAsync("status");
            Assert.Contains("db1: capture=wal,", status.Out);
            Assert.Contains("MiB of WAL held by slot ferry_", status.Out);
            await t.Cli.OkAsync("start");
            await ConvergedAsync(t, "customers");
            Assert.Equal("cloud edit, later", await t.ScalarAsync<string>(2, "SELECT city FROM customers WHERE id = 1"));
            Assert.Contains("\"winner\": \"db2\"", (await t.Cli.OkAsync("conflicts", "--json")).Out);
        }
        finally
        {
            await DropSlotsAsync(t);
            await t.DisposeAsync();
        }
    }

    private const string WonByDb2 = "SELECT count(*) FROM ferry.conflicts WHERE table_name = 'customers' AND winner = 'db2'";

    /// <summary>
    /// ApplyRaces for WAL capture: the cloud's edit commits while the relay applies the office's earlier edit of the
    /// same row, waiting for the cloud's row lock. Its change reaches the change log only once decoded, after the
    /// apply's race check unless the apply waits for the capture (ferry.wal_wait): without the wait the office's edit
    /// overwrites it, unseen, and it is lost everywhere.
    /// </summary>
    [Fact]
    public async Task a_local_change_committing_during_the_apply_is_decided_not_overwritten()
    {
        var t = await SetUpAsync(nameof(a_local_change_committing_during_the_apply_is_decided_not_overwritten));
        try
        {
            await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
            await t.ExecAsync(0, "INSERT INTO customers VALUES (1, 'n', 'start')");
            await t.Cli.OkAsync("start");
            await ConvergedAsync(t, "customers");

            await using var cloud = await t.AppAsync(1);
            await using var tx = await cloud.BeginTransactionAsync();
            await using (var edit = new Npgsql.NpgsqlCommand("UPDATE customers SET city = 'cloud' WHERE id = 1", cloud, tx))
                await edit.ExecuteNonQueryAsync();
            await t.ExecAsync(0, "UPDATE customers SET city = 'office' WHERE id = 1");
            await Eventually.UntilAsync(
                () => servers[1].ScalarAsync<long>(t.Database, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() " +
                                                               "AND wait_event_type = 'Lock' AND application_name LIKE 'ferry apply%'", default),
                waiting => waiting > 0, TimeSpan.FromSeconds(30), "the apply to wait for the cloud's row");
            await tx.CommitAsync();

            // Retried, the two edits meet as a conflict, and the later one (the cloud's) wins everywhere.
            await ConvergedAsync(t, "customers");
            foreach (var server in new[] { 0, 1, 2 })
                Assert.Equal("cloud", await t.ScalarAsync<string>(server, "SELECT city FROM customers WHERE id = 1"));
            // Recorded where the two met: on db2 when the retried apply decided, or on db1 if db2's edit got there first.
            Assert.True(await servers[0].ScalarAsync<long>(t.Database, WonByDb2, default) +
                        await servers[1].ScalarAsync<long>(t.Database, WonByDb2, default) > 0, "a conflict won by db2");
        }
        finally
        {
            await DropSlotsAsync(t);
            await t.DisposeAsync();
        }
    }

    [Fact]
    public async Task relay_killed_while_capturing_loses_nothing_and_truncates_and_partitions_follow()
    {
        var t = await SetUpAsync(nameof(relay_killed_while_capturing_loses_nothing_and_truncates_and_partitions_follow));
        try
        {
            await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
            await t.Cli.OkAsync("start");
            var endpoint = System.Text.RegularExpressions.Regex.Match((await Eventually.UntilAsync(() => t.Cli.OkAsync("status"),
                r => r.Out.Contains("http://127.0.0.1:", StringComparison.Ordinal), TimeSpan.FromSeconds(20), "the relay's endpoint")).Out,
                @"http://127\.0\.0\.1:\d+/").Value;
            using (var http = new HttpClient())
                await Eventually.UntilAsync(() => http.GetStringAsync(endpoint + "metrics"),
                    m => m.Contains("ferry_slot_retained_bytes{database=\"db1\"}", StringComparison.Ordinal),
                    TimeSpan.FromSeconds(20), "the slot's retained WAL in /metrics");

            // Small transactions on both masters, while the relay is killed twice: the slot position it had confirmed
            // lags what it had logged (it reports every few seconds), so each restart is sent some of them again.
            var writes = Task.Run(async () =>
            {
                for (var i = 0; i < 150; i++)
                {
                    await t.ExecAsync(0, $"INSERT INTO customers SELECT g, 'k', 'office' FROM generate_series({i * 10 + 1}, {i * 10 + 10}, 2) g");
                    await t.ExecAsync(1, $"INSERT INTO customers SELECT g, 'k', 'cloud' FROM generate_series({i * 10 + 2}, {i * 10 + 10}, 2) g");
                    await t.ExecAsync(0, $"UPDATE customers SET name = name || '+' WHERE id = {i * 10 + 1}");
                }
            });
            for (var kill = 0; kill < 2; kill++)
            {
                await Eventually.UntilAsync(() => t.ScalarAsync<long>(2, "SELECT count(*) FROM customers"),
                    n => n > 300 * (kill + 1), TimeSpan.FromSeconds(30), "rows to arrive before the kill");
                Assert.True(await RelayKiller.KillAsync(t), "the relay was running");
                await t.Cli.OkAsync("start");
            }
            await writes;
            await ConvergedAsync(t, "customers");
            Assert.Equal(1500L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM customers"));
            Assert.Equal(0L, await servers[2].ScalarAsync<long>(t.Database, "SELECT count(*) FROM ferry.conflicts", default));

            // Partitions: a row written straight into a partition, and one moved to another partition.
            await t.ExecAsync(0, "INSERT INTO events_2024 SELECT g, '2024-06-01', 'direct' FROM generate_series(1, 20) g");
            await t.ExecAsync(1, "INSERT INTO events SELECT g, '2025-02-01', 'routed' FROM generate_series(21, 40) g");
            await ConvergedAsync(t, "events");
            await t.ExecAsync(1, "UPDATE events SET at = '2025-07-01' WHERE id = 1");
            await t.ExecAsync(0, "TRUNCATE customers");
            await ConvergedAsync(t, "events");
            await ConvergedAsync(t, "customers");
            Assert.Equal(0L, await t.ScalarAsync<long>(1, "SELECT count(*) FROM customers"));
            Assert.Equal(1L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM events_2025 WHERE id = 1"));

            // Back to triggers and to WAL again, the relay running and db1 writing throughout: nothing falls between.
            const string triggers = "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'ferry%' AND tgrelid = 'public.customers'::regclass";
            var writing = Task.Run(async () =>
            {
                for (var i = 0; i < 60; i++) await t.ExecAsync(0, $"INSERT INTO customers VALUES ({50_000 + i}, 'switch', 'office')");
            });
            // Triggers on a partitioned table are cloned onto its partitions: the switch names the grant first.
            var refused = await t.Cli.RunAsync("update", "database", "db1", "capture=trigger");
            Assert.True(refused.Err.Contains($"GRANT TRIGGER ON public.events_2024, public.events_2025 TO \"{RestrictedRole.WalUser}\";",
                StringComparison.Ordinal), refused.ToString());
            await servers[0].ExecuteAsync(t.Database, $"GRANT TRIGGER ON events_2024, events_2025 TO {RestrictedRole.WalUser}", default);
            await t.Cli.OkAsync("update", "database", "db1", "capture=trigger");
            Assert.True(await servers[0].ScalarAsync<long>(t.Database, triggers, default) > 0);
            Assert.Equal(0L, await servers[0].ScalarAsync<long>(t.Database,
                $"SELECT count(*) FROM pg_replication_slots WHERE database = '{t.Database}'", default));
            await t.Cli.OkAsync("update", "database", "db1", "capture=wal");
            await writing;
            Assert.Equal(0L, await servers[0].ScalarAsync<long>(t.Database, triggers, default));
            await t.ExecAsync(0, "INSERT INTO customers VALUES (60000, 'after', 'office')");
            await ConvergedAsync(t, "customers");
            Assert.Equal(61L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM customers"));
        }
        finally
        {
            await DropSlotsAsync(t);
            await t.DisposeAsync();
        }
    }

    private static async Task ConvergedAsync(Topology t, string table)
    {
        try
        {
            await t.ConvergedAsync(table, [0, 1, 2]);
        }
        catch (TimeoutException e)
        {
            var log = t.Cli.LogText;
            throw new TimeoutException(e.Message[..Math.Min(2000, e.Message.Length)] + "\n--- ferry.log\n" + log[^Math.Min(6000, log.Length)..], e);
        }
    }

    private async Task<long> OriginCountAsync(Topology t, int server, string originIs)
    {
        var rv = await servers[server].ScalarAsync<string>(t.Database,
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace " +
            "WHERE n.nspname = 'ferry' AND c.relname LIKE 'rv_public_customers%'", default);
        return await servers[server].ScalarAsync<long>(t.Database, $"SELECT count(*) FROM {rv} WHERE ferry_origin {originIs}", default);
    }
}
