using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Ferry.Local;
using Npgsql;
using Xunit;

namespace Ferry.Tests.Harness;

/// <summary>The fault-injecting proxy does each fault it promises, against a real server, and stays bounded.</summary>
[Collection("servers")]
public sealed class FaultProxyTests(ServerFixture servers) : IDisposable
{
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromMinutes(1));

    private CancellationToken Ct => _timeout.Token;

    public void Dispose() => _timeout.Dispose();

    /// <summary>A superuser connection through the proxy; short timeouts so a fault shows in seconds.</summary>
    private string Via(FaultProxy proxy, int timeoutSeconds = 5) =>
        new NpgsqlConnectionStringBuilder(servers[0].AdminConnectionString())
        {
            Port = proxy.Port,
            Pooling = false,
            Timeout = timeoutSeconds,
            CommandTimeout = timeoutSeconds,
            CancellationTimeout = -1,
        }.ConnectionString;

    private async Task<NpgsqlConnection> OpenAsync(FaultProxy proxy, int timeoutSeconds = 5)
    {
        var c = new NpgsqlConnection(Via(proxy, timeoutSeconds));
        await c.OpenAsync(Ct);
        return c;
    }

    private async Task<T> ScalarAsync<T>(NpgsqlConnection c, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, c);
        return (T)(await cmd.ExecuteScalarAsync(Ct))!;
    }

    [Fact]
    public async Task forwards_both_ways_and_counts_bytes_and_connections()
    {
        await using var proxy = FaultProxy.Start(servers[0]);
        await using (var c = await OpenAsync(proxy))
        {
            Assert.Equal(100_000, (await ScalarAsync<string>(c, "SELECT repeat('x', 100000)")).Length);
            // A query is one round trip, however many packets its answer takes.
            var before = proxy.RoundTrips;
            await ScalarAsync<int>(c, "SELECT 1");
            Assert.Equal(before + 1, proxy.RoundTrips);
        }
        Assert.Equal(1, proxy.ConnectionsAccepted);
        Assert.True(proxy.BytesDown > 100_000, $"down {proxy.BytesDown}");
        Assert.True(proxy.BytesUp > 0);
        await Eventually.UntilAsync(() => Task.FromResult(proxy.ActiveConnections == 0), TimeSpan.FromSeconds(5), "the link to close");
    }

    [Fact]
    public async Task adds_latency_each_way_and_caps_bandwidth()
    {
        await using var proxy = FaultProxy.Start(servers[0]);
        await using var c = await OpenAsync(proxy);
        var fast = await TimeAsync(() => ScalarAsync<int>(c, "SELECT 1"));
        proxy.Latency = TimeSpan.FromMilliseconds(100);
        var slow = await TimeAsync(() => ScalarAsync<int>(c, "SELECT 1"));
        Assert.InRange(slow.TotalMilliseconds, 195, 195 + 500 + fast.TotalMilliseconds);

        proxy.Latency = TimeSpan.Zero;
        proxy.BandwidthBytesPerSecond = 200_000;
        var capped = await TimeAsync(() => ScalarAsync<string>(c, "SELECT repeat('x', 300000)"));
        Assert.InRange(capped.TotalSeconds, 1.3, 5);
    }

    [Fact]
    public async Task resets_every_connection_now_and_new_ones_work()
    {
        await using var proxy = FaultProxy.Start(servers[0]);
        await using var c = await OpenAsync(proxy);
        Assert.Equal(1, proxy.ResetAll());
        var e = await Assert.ThrowsAnyAsync<Exception>(() => ScalarAsync<int>(c, "SELECT 1"));
        Assert.True(e is NpgsqlException or IOException, e.ToString());
        await using var again = await OpenAsync(proxy);
        Assert.Equal(1, await ScalarAsync<int>(again, "SELECT 1"));
        Assert.Equal(1, proxy.Resets);
    }

    [Fact]
    public async Task random_resets_hit_connections_at_the_chosen_rate()
    {
        await using var proxy = FaultProxy.Start(servers[0]);
        await using var c = await OpenAsync(proxy);
        proxy.ResetsPerSecond = 10; // a certainty every 100 ms tick
        await Eventually.UntilAsync(() => Task.FromResult(proxy.Resets >= 1), TimeSpan.FromSeconds(3), "a random reset");
        await Assert.ThrowsAnyAsync<Exception>(() => ScalarAsync<int>(c, "SELECT 1"));
    }

    [Fact]
    public async Task blackhole_swallows_current_and_new_connections_without_closing_them()
    {
        await using var proxy = FaultProxy.Start(servers[0]);
        await using var old = await OpenAsync(proxy, timeoutSeconds: 1);
        proxy.Blackhole = true;
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAnyAsync<NpgsqlException>(() => ScalarAsync<int>(old, "SELECT 1"));
        Assert.True(e.InnerException is TimeoutException, e.ToString());
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.9, 4);
        await using (var fresh = new NpgsqlConnection(Via(proxy, timeoutSeconds: 1)))
            await Assert.ThrowsAnyAsync<NpgsqlException>(() => fresh.OpenAsync(Ct));
        Assert.True(proxy.BytesSwallowed > 0);
        // Silent means silent: a raw connection is accepted, fed, and never answered nor closed.
        using (var raw = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await raw.ConnectAsync(IPAddress.Loopback, proxy.Port, Ct);
            await raw.SendAsync(new byte[] { 0, 0, 0, 8, 4, 210, 22, 47 }, SocketFlags.None, Ct);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            wait.CancelAfter(500);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(
                async () => await raw.ReceiveAsync(new byte[16], SocketFlags.None, wait.Token));
        }

        proxy.Blackhole = false;
        await using var healed = await OpenAsync(proxy);
        Assert.Equal(1, await ScalarAsync<int>(healed, "SELECT 1"));
    }

    [Fact]
    public async Task faults_act_only_on_the_connections_of_the_chosen_process()
    {
        await using var proxy = FaultProxy.Start(servers[0]);
        await using var mine = await OpenAsync(proxy, timeoutSeconds: 1);
        // SocketOwner finds this process's end of a connection (as a relay's, in RelayCutOffFromOneDatabase), not pid 1's.
        using (var raw = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await raw.ConnectAsync(IPAddress.Loopback, proxy.Port, Ct);
            Assert.True(SocketOwner.Owns(Environment.ProcessId, (IPEndPoint)raw.LocalEndPoint!));
            Assert.False(SocketOwner.Owns(1, (IPEndPoint)raw.LocalEndPoint!));
        }
        proxy.Only = SocketOwner.Of(1);
        proxy.Blackhole = true;
        Assert.Equal(0, proxy.ResetAll());
        Assert.Equal(1, await ScalarAsync<int>(mine, "SELECT 1"));
        await using (var fresh = await OpenAsync(proxy, timeoutSeconds: 1))
            Assert.Equal(1, await ScalarAsync<int>(fresh, "SELECT 1"));
        proxy.Only = SocketOwner.Of(Environment.ProcessId);
        proxy.Blackhole = true;
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => ScalarAsync<int>(mine, "SELECT 1"));
    }

    [Fact]
    public async Task refuses_new_connections_for_a_period_then_accepts_again()
    {
        await using var proxy = FaultProxy.Start(servers[0]);
        proxy.RefuseFor(TimeSpan.FromSeconds(1.5));
        await using (var refused = new NpgsqlConnection(Via(proxy)))
            await Assert.ThrowsAnyAsync<NpgsqlException>(() => refused.OpenAsync(Ct));
        Assert.True(proxy.ConnectionsRefused >= 1);
        var ok = await Eventually.UntilAsync(async () =>
        {
            await using var c = await OpenAsync(proxy);
            return await ScalarAsync<int>(c, "SELECT 1");
        }, v => v == 1, TimeSpan.FromSeconds(10), "the refusal to end");
        Assert.Equal(1, ok);
    }

    [Fact]
    public async Task is_bounded_to_loopback_targets_a_connection_cap_and_a_lifetime()
    {
        Assert.Throws<ArgumentException>(() => FaultProxy.Start("10.1.2.3", 5432));
        Assert.Throws<ArgumentException>(() => FaultProxy.Start("example.com", 5432));

        await using (var capped = FaultProxy.Start(servers[0]))
        {
            // Blackholed connections hold no server connection: the cap is tested without a crowd of backends.
            capped.Blackhole = true;
            var sockets = new List<Socket>();
            try
            {
                for (var i = 0; i <= FaultProxy.MaxConnections; i++)
                {
                    var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    sockets.Add(s);
                    try
                    {
                        await s.ConnectAsync(IPAddress.Loopback, capped.Port, Ct);
                    }
                    catch (SocketException) when (i == FaultProxy.MaxConnections)
                    {
                        // The one over the cap is reset on accept; the reset may even beat the connect's completion.
                    }
                }
                await Eventually.UntilAsync(() => Task.FromResult(capped.ConnectionsRefused == 1), TimeSpan.FromSeconds(5),
                    "the connection over the cap to be refused");
                Assert.Equal(FaultProxy.MaxConnections, capped.ActiveConnections);
            }
            finally
            {
                foreach (var s in sockets) s.Dispose();
            }
        }

        await using var shortLived = FaultProxy.Start(servers[0], TimeSpan.FromMilliseconds(500));
        await Eventually.UntilAsync(() => Task.FromResult(shortLived.Stopped), TimeSpan.FromSeconds(5), "the lifetime to end");
        await using var late = new NpgsqlConnection(Via(shortLived, timeoutSeconds: 2));
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => late.OpenAsync(Ct));
    }

    private static async Task<TimeSpan> TimeAsync<T>(Func<Task<T>> action)
    {
        var clock = Stopwatch.StartNew();
        await action();
        return clock.Elapsed;
    }
}
