using System.Diagnostics;
using Ferry.Local;
using Ferry.Tests.Harness;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace Ferry.Tests.Links;

/// <summary>
/// DESIGN invariants 2 to 4 under everything at once, scaled down to about a minute: writes on both masters (often
/// to the same keys), random faults on both masters' links (resets, blackholes, refusals, latency), and the relay
/// killed with SIGKILL at random moments and started again. Once writes stop and the links heal, every database
/// holds the same rows.
/// </summary>
[Collection("scenario-servers")]
public sealed class Soak(ServerFixture servers, ITestOutputHelper output)
{
    private static readonly TimeSpan WritePhase = TimeSpan.FromSeconds(50);
    private const string Schema = "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL, touched_by text NOT NULL)";

    [Fact]
    public async Task writes_on_both_masters_through_faulty_links_and_a_killed_relay_converge()
    {
        var clock = Stopwatch.StartNew();
        await using var link1 = FaultProxy.Start(servers[0], TimeSpan.FromMinutes(5));
        await using var link2 = FaultProxy.Start(servers[1], TimeSpan.FromMinutes(5));
        await using var t = await Topology.CreateAsync(servers, nameof(Soak), Schema, ["public.accounts"]);
        t.Cli.Environment["FERRY_DEAD_LINK_SECONDS"] = "5";
        t.Cli.Environment["FERRY_CHUNK_ROWS"] = "5000";
        await t.AddDatabasesAsync(new Dictionary<int, FaultProxy> { [0] = link1, [1] = link2 });
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:source", "db3:target");
        await t.Cli.OkAsync("add", "all", "tables", "herd=h");
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
        await t.Cli.OkAsync("start");

        using var stop = new CancellationTokenSource(WritePhase);
        var writes = new[] { WriteAsync(t, 0, stop.Token), WriteAsync(t, 1, stop.Token) };
        var faults = new[] { FaultsAsync(link1, stop.Token), FaultsAsync(link2, stop.Token) };
        var kills = KillsAsync(t, stop.Token);
        var written = await Task.WhenAll(writes);
        var injected = await Task.WhenAll(faults);
        var killed = await kills;

        // Quiescence: links healed, the relay running, and then every database the same.
        link1.Heal();
        link2.Heal();
        if (!File.Exists(Path.Combine(t.Cli.Home, "relay.json")) || !(await t.Cli.RunAsync("status")).Out.Contains("Relay: running", StringComparison.Ordinal))
            await t.Cli.OkAsync("start");
        var quiet = Stopwatch.StartNew();
        await Fingerprint.ConvergedAsync(t, [Fingerprint.RowsSql("accounts")], [0, 1, 2], TimeSpan.FromSeconds(90));
        var rows = await t.ScalarAsync<long>(2, "SELECT count(*) FROM accounts");
        var conflicts = new long[3];
        for (var i = 0; i < 3; i++)
            conflicts[i] = await servers[i].ScalarAsync<long>(t.Database, "SELECT count(*) FROM ferry.conflicts", default);
        output.WriteLine($"{written.Sum()} write statements ({written[0]} on db1, {written[1]} on db2), faults " +
                         $"[{string.Join("; ", injected)}], relay killed {killed} times; converged {quiet.Elapsed.TotalSeconds:F1} s " +
                         $"after the writes stopped on {rows} rows; conflicts recorded per database [{string.Join(", ", conflicts)}]; " +
                         $"test took {clock.Elapsed.TotalSeconds:F1} s");
        Assert.True(killed >= 2, $"the relay was killed only {killed} times");
        Assert.True(link1.Resets + link2.Resets > 0 && link1.BytesSwallowed + link2.BytesSwallowed > 0, "faults hit no connection");
        Assert.True(rows > 0);
    }

    /// <summary>One master's application: upserts, range updates, deletes and bulk inserts over keys the other master writes too.</summary>
    private static async Task<int> WriteAsync(Topology t, int server, CancellationToken ct)
    {
        var random = new Random(server * 7919 + 17);
        var name = Topology.NodeName(server);
        var statements = 0;
        await using var c = await t.AppAsync(server);
        while (!ct.IsCancellationRequested)
        {
            var id = random.Next(1, 3000);
            var sql = random.Next(10) switch
            {
                < 5 => $"INSERT INTO accounts VALUES ({id}, 1, '{name}') ON CONFLICT (id) DO UPDATE SET balance = accounts.balance + 1, touched_by = '{name}'",
                < 7 => $"UPDATE accounts SET balance = balance - 1, touched_by = '{name}' WHERE id BETWEEN {id} AND {id + 20}",
                < 8 => $"DELETE FROM accounts WHERE id = {id}",
                _ => $"INSERT INTO accounts SELECT g, 0, '{name}' FROM generate_series({id}, {id + random.Next(1, 300)}) g ON CONFLICT DO NOTHING",
            };
            try
            {
                await using var cmd = new NpgsqlCommand(sql, c);
                await cmd.ExecuteNonQueryAsync(CancellationToken.None);
                statements++;
            }
            catch (PostgresException e) when (e.SqlState is "40P01" or "40001")
            {
                // A range update against the relay's apply can deadlock: the application retries, as a real one would.
            }
            try
            {
                await Task.Delay(random.Next(5, 25), ct);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return statements;
    }

    /// <summary>Every 1 to 3 s, one fault on the link: a reset, a blackhole, a refusal, latency, or a rest.</summary>
    private static async Task<string> FaultsAsync(FaultProxy link, CancellationToken ct)
    {
        var random = new Random(link.Port);
        var counts = new Dictionary<string, int>();
        link.ResetsPerSecond = 0.05;
        try
        {
            while (true)
            {
                await Task.Delay(random.Next(1000, 3000), ct);
                var fault = random.Next(10) switch { < 3 => "reset", < 5 => "blackhole", < 6 => "refuse", < 8 => "latency", _ => "rest" };
                counts[fault] = counts.GetValueOrDefault(fault) + 1;
                switch (fault)
                {
                    case "reset":
                        link.ResetAll();
                        break;
                    case "blackhole":
                        link.Blackhole = true;
                        await Task.Delay(random.Next(2000, 5000), ct);
                        link.Blackhole = false;
                        break;
                    case "refuse":
                        link.RefuseFor(TimeSpan.FromSeconds(2));
                        break;
                    case "latency":
                        link.Latency = TimeSpan.FromMilliseconds(random.Next(20, 100));
                        await Task.Delay(3000, ct);
                        link.Latency = TimeSpan.Zero;
                        break;
                }
            }
        }
        catch (OperationCanceledException)
        {
            link.Heal();
        }
        return string.Join(", ", counts.OrderBy(k => k.Key).Select(k => $"{k.Value} {k.Key}"));
    }

    /// <summary>SIGKILLs the relay every 6 to 12 s and starts it again, at once or after a pause.</summary>
    private static async Task<int> KillsAsync(Topology t, CancellationToken ct)
    {
        var random = new Random(42);
        var killed = 0;
        try
        {
            while (true)
            {
                await Task.Delay(random.Next(6000, 12000), ct);
                if (await RelayKiller.KillAsync(t)) killed++;
                await Task.Delay(random.Next(0, 2000), ct);
                await t.Cli.OkAsync("start");
            }
        }
        catch (OperationCanceledException)
        {
            return killed;
        }
    }
}
