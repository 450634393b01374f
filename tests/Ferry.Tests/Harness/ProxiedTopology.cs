using Ferry.ControlStore;
using Ferry.Local;

namespace Ferry.Tests.Harness;

/// <summary>Databases added to ferry through <see cref="FaultProxy"/>s, so the relay's links can be made to fail.</summary>
public static class ProxiedTopology
{
    /// <summary>
    /// `ferry install` and `ferry add database` db1..dbN, each through its proxy in <paramref name="via"/> when it has
    /// one. The test's own connections (<see cref="Topology.AppAsync"/>) still go straight to the servers.
    /// </summary>
    public static async Task AddDatabasesAsync(this Topology t, IReadOnlyDictionary<int, FaultProxy> via, int count = 3)
    {
        await t.Cli.OkAsync("install");
        for (var i = 0; i < count; i++)
        {
            var port = via.TryGetValue(i, out var proxy) ? proxy.Port : t.Servers[i].Port;
            await t.Cli.OkAsync(t.DatabaseArguments(i, port));
        }
    }

    /// <summary>What the relay recorded about each database, read from the control store as `ferry status` does.</summary>
    public static async Task<List<DatabaseStatus>> DatabaseStatusAsync(this Topology t)
    {
        using var store = await Store.OpenAsync(Path.Combine(t.Cli.Home, "ferry.db"), default);
        return await store.ListDatabaseStatusAsync(default);
    }

    public static async Task<List<PairStatus>> PairStatusAsync(this Topology t)
    {
        using var store = await Store.OpenAsync(Path.Combine(t.Cli.Home, "ferry.db"), default);
        return await store.ListPairStatusAsync(default);
    }

    /// <summary>The relay's log lines that contain <paramref name="text"/>.</summary>
    public static List<string> LogLines(this Topology t, string text) =>
        t.Cli.LogText.Split('\n').Where(l => l.Contains(text, StringComparison.Ordinal)).ToList();
}
