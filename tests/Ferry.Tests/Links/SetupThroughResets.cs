using System.Diagnostics;
using Ferry.Local;
using Ferry.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Ferry.Tests.Links;

/// <summary>
/// Setup commands over the link they set up: 50 ms each way, every connection reset every 2 to 5 s. add database,
/// add sync with its install and a one-time copy, compare and upgrade all ride through, retrying the step a reset cut
/// off, and leave exactly one installation and the source's rows. What no retry can mend (a wrong password) still fails
/// at once, and a link that stays down is given up on with what to do.
/// </summary>
[Collection("servers")]
public sealed class SetupThroughResets(ServerFixture servers, ITestOutputHelper output)
{
    private const int Rows = 3_000;

    [Fact]
    public async Task setup_commands_ride_through_resets_and_leave_one_installation_and_the_same_rows()
    {
        await using var link1 = FaultProxy.Start(servers[0], TimeSpan.FromMinutes(5));
        await using var link2 = FaultProxy.Start(servers[1], TimeSpan.FromMinutes(5));
        FaultProxy[] links = [link1, link2];
        foreach (var link in links) link.Latency = TimeSpan.FromMilliseconds(50);
        await using var t = await Topology.CreateAsync(servers, nameof(SetupThroughResets), ResetsDuringBacklog.Schema, ["public.bulk"]);
        await t.ExecAsync(0, $"INSERT INTO bulk SELECT i, md5(i::text), i * 7 FROM generate_series(1, {Rows}) i");

        var results = new List<CliResult>();
        var rounds = 0;
        await t.Cli.OkAsync("install");
        await WithResetsAsync(links, 2, 5, async () =>
        {
            for (var i = 0; i < 2; i++)
                results.Add(await t.Cli.OkAsync("add", "database", Topology.NodeName(i), $"dbname={t.Database}", $"host={links[i].Host}",
                    $"port={links[i].Port}", $"user={RestrictedRole.User}", $"pass={RestrictedRole.Password}"));
        }, r => rounds += r);
        // A copy's attempt takes about 1.3 s of round trips at 100 ms (Copy/CopyRoundTrips) before its slice commits:
        // it fits between resets every 2 to 5 s, as the other commands do.
        await WithResetsAsync(links, 2, 5, async () =>
            results.Add(await t.Cli.OkAsync("add", "sync", "s", "tables=bulk", "dbs=db1:source,db2:target", "onetimecopy=1")), r => rounds += r);
        // An older install on the source, which upgrade brings to this version through the same resets.
        await servers[0].ExecuteAsync(t.Database, "UPDATE ferry.meta SET value = '2' WHERE key = 'schema_version'", default);
        // compare holds both links for its whole attempt (its checks, then one hash pass per database): with each link
        // reset every 2 to 5 s, the next reset on either comes about every 1.75 s, and on a loaded CI machine (the other
        // collection running its WAL cases beside it) 30 attempts in a row did not fit. Every 3 to 6 s, as a link that
        // resets often but not constantly.
        await WithResetsAsync(links, 3, 6, async () =>
        {
            results.Add(await t.Cli.OkAsync("compare", "s"));
            results.Add(await t.Cli.OkAsync("upgrade"));
        }, r => rounds += r);
        foreach (var r in results) output.WriteLine(r.ToString());
        var retries = results.Sum(r => r.Err.Split('\n').Count(l => l.Contains("; retrying (attempt ", StringComparison.Ordinal)));
        output.WriteLine($"{rounds} rounds of resets ({link1.Resets + link2.Resets} connections reset), {retries} retries");
        Assert.True(retries > 0, "no command met a reset");
        Assert.Contains($"copied from db1, {Rows} rows", results[2].Out, StringComparison.Ordinal);
        Assert.Contains("the same on db1, db2", results[3].Out, StringComparison.Ordinal);

        var content = Fingerprint.RowsSql("public.bulk");
        Assert.Equal(await Fingerprint.OfAsync(t, 0, content), await Fingerprint.OfAsync(t, 1, content));
        Assert.StartsWith($"{Rows} rows", await Fingerprint.OfAsync(t, 1, content), StringComparison.Ordinal);
        const string Triggers = "SELECT coalesce(string_agg(tgname, ',' ORDER BY tgname), '') FROM pg_trigger " +
                                "WHERE tgrelid = 'public.bulk'::regclass AND tgname LIKE 'ferry%'";
        Assert.Equal("ferry_capture_delete,ferry_capture_insert,ferry_capture_truncate,ferry_capture_update",
            await servers[0].ScalarAsync<string>(t.Database, Triggers, default));
        Assert.Equal("", await servers[1].ScalarAsync<string>(t.Database, Triggers, default));
        Assert.Equal(Ferry.Install.NodeInstaller.SchemaVersion.ToString(System.Globalization.CultureInfo.InvariantCulture), await servers[0].ScalarAsync<string>(t.Database, "SELECT value FROM ferry.meta WHERE key = 'schema_version'", default));
        // The copy's position is the pair's: replication goes on from it.
        await t.ExecAsync(0, "UPDATE bulk SET n = -1 WHERE id = 77; DELETE FROM bulk WHERE id = 78");
        await t.Cli.OkAsync("debug", "run-once", "s", "db1", "db2");
        Assert.Equal(await Fingerprint.OfAsync(t, 0, content), await Fingerprint.OfAsync(t, 1, content));

        // Not the link: no retry, at once.
        var clock = Stopwatch.StartNew();
        var wrong = await t.Cli.RunAsync("add", "database", "db9", $"dbname={t.Database}", $"host={link1.Host}", $"port={link1.Port}",
            $"user={RestrictedRole.User}", "pass=not-the-password");
        output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s\n{wrong}");
        Assert.Equal(1, wrong.ExitCode);
        Assert.Contains("Password authentication failed", wrong.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("retrying", wrong.Err, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");

        // A link that stays down: retried for FERRY_SETUP_RETRY_SECONDS, then given up with what to do.
        link2.RefuseFor(TimeSpan.FromMinutes(2));
        t.Cli.Environment["FERRY_SETUP_RETRY_SECONDS"] = "3";
        var down = await t.Cli.RunAsync("compare", "s");
        output.WriteLine(down.ToString());
        Assert.Equal(1, down.ExitCode);
        Assert.Contains("link to db2 reset; retrying (attempt 2, ", down.Err, StringComparison.Ordinal);
        Assert.Contains("Gave up on the link to db2", down.Err, StringComparison.Ordinal);
        Assert.Contains("Running the same command again is safe", down.Err, StringComparison.Ordinal);
    }

    private static async Task WithResetsAsync(FaultProxy[] links, int leastSeconds, int mostSeconds, Func<Task> work, Action<int> rounds)
    {
        using var stop = new CancellationTokenSource();
        var resets = Resets.EveryAsync(links, TimeSpan.FromSeconds(leastSeconds), TimeSpan.FromSeconds(mostSeconds), stop.Token);
        try
        {
            await work();
        }
        finally
        {
            await stop.CancelAsync();
            rounds(await resets);
        }
    }
}
