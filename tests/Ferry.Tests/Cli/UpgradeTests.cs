using Ferry.Capture;
using Ferry.Install;
using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>
/// `ferry upgrade`: databases installed by an older ferry (schema version 1, whose capture upserted row versions
/// itself and had no change log) are refused by the relay with the command that fixes them, and upgraded in place
/// without losing what the old capture recorded or what the application writes meanwhile.
/// </summary>
[Collection("servers")]
public sealed class UpgradeTests(ServerFixture servers)
{
    [Fact]
    public async Task a_database_of_an_older_ferry_is_refused_then_upgraded_in_place_with_nothing_lost()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_database_of_an_older_ferry_is_refused_then_upgraded_in_place_with_nothing_lost),
            "CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL)", ["public.items"]);
        await t.TwoMastersAndReplicaAsync();
        foreach (var master in new[] { 0, 1 }) await MakeVersionOneAsync(t, master);
        await servers[2].ExecuteAsync(t.Database, "UPDATE ferry.meta SET value = '1' WHERE key = 'schema_version'", default);

        // Written under the old capture: recorded in the row versions directly.
        await t.ExecAsync(0, "INSERT INTO items VALUES (1, 'before, on db1')");
        await t.ExecAsync(1, "INSERT INTO items VALUES (2, 'before, on db2')");
        var refused = await t.Cli.RunAsync("debug", "run-once", "s", "db1", "db2");
        Assert.True(refused.ExitCode != 0, refused.ToString());
        Assert.Contains($"schema version 1; this ferry needs version {Version}", refused.Err, StringComparison.Ordinal);
        Assert.Contains("ferry upgrade", refused.Err, StringComparison.Ordinal);

        Assert.Equal(2, (await t.Cli.RunAsync("upgrade", "now")).ExitCode);
        var upgraded = await t.Cli.OkAsync("upgrade");
        Assert.Contains($"Upgraded sync s to ferry schema version {Version} on db1, db2, db3.", upgraded.Out, StringComparison.Ordinal);
        Assert.Equal(Version, await servers[0].ScalarAsync<string>(t.Database, "SELECT value FROM ferry.meta WHERE key = 'schema_version'", default));

        // Written after: into the change log. Both generations of changes reach every database.
        await t.ExecAsync(0, "INSERT INTO items VALUES (3, 'after, on db1'); UPDATE items SET v = 'after, changed on db1' WHERE id = 1");
        await t.ExecAsync(1, "INSERT INTO items VALUES (4, 'after, on db2')");
        foreach (var (from, to) in new[] { ("db1", "db2"), ("db2", "db1"), ("db1", "db3"), ("db2", "db3") })
            await t.Cli.OkAsync("debug", "run-once", "s", from, to);
        var want = "(1,\"after, changed on db1\")\n(2,\"before, on db2\")\n(3,\"after, on db1\")\n(4,\"after, on db2\")";
        foreach (var s in new[] { 0, 1, 2 }) Assert.Equal(want, await t.DumpAsync(s, "items"));
    }

    private static string Version => Ferry.Install.NodeInstaller.SchemaVersion.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private const string LocalWins = "ferry_version = greatest(excluded.ferry_version, r.ferry_version + interval '1 microsecond'), " +
        "ferry_based_on = CASE WHEN r.ferry_origin IS NULL THEN r.ferry_based_on ELSE r.ferry_version END, " +
        "ferry_origin = NULL, ferry_xid = excluded.ferry_xid";

    /// <summary>
    /// What ferry 1 left on a master: no change log, no fold, and a capture function that upserts the row versions
    /// in the application's statement.
    /// </summary>
    private async Task MakeVersionOneAsync(Topology t, int server)
    {
        var names = new CaptureNames(new TableName("public", "items"));
        await servers[server].ExecuteAsync(t.Database, $"""
            DROP FUNCTION {names.Fold}(integer);
            DROP TABLE {names.Log};
            CREATE OR REPLACE FUNCTION {names.Function}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $fn$
            BEGIN
                IF current_setting('ferry.origin', true) <> '' THEN RETURN NULL; END IF;
                IF TG_OP = 'INSERT' THEN
                    INSERT INTO {names.RowVersions} AS r (id, ferry_version, ferry_origin, ferry_based_on, ferry_xid)
                    SELECT id, clock_timestamp(), NULL, NULL, pg_current_xact_id() FROM ferry_new
                    ON CONFLICT (id) DO UPDATE SET {LocalWins};
                ELSE
                    INSERT INTO {names.RowVersions} AS r (id, ferry_version, ferry_origin, ferry_based_on, ferry_xid)
                    SELECT id, clock_timestamp(), NULL, NULL, pg_current_xact_id() FROM ferry_old
                    ON CONFLICT (id) DO UPDATE SET {LocalWins};
                END IF;
                RETURN NULL;
            END
            $fn$;
            UPDATE ferry.meta SET value = '1' WHERE key = 'schema_version';
            """, default);
    }
}
