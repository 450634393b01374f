using System.Globalization;
using System.Text.Json;
using Ferry.Local;

namespace Ferry.Tests.Harness;

/// <summary>Several relays, each in its own home, sharing one PostgreSQL control store: the helpers their tests share.</summary>
public static class SharedStoreRelays
{
    /// <summary>Points <paramref name="cli"/>'s home at the store in <paramref name="database"/> on <paramref name="server"/>,
    /// reached on <paramref name="port"/> (the server's, or a proxy's), with short leases.</summary>
    public static void Use(FerryCli cli, LocalServer server, string database, int port, double leaseSeconds)
    {
        cli.Environment["FERRY_STORE"] = $"postgresql://{RestrictedRole.User}@{server.Host}:{port}/{database}";
        cli.Environment["PGPASSWORD"] = RestrictedRole.Password;
        cli.Environment["FERRY_LEASE_SECONDS"] = leaseSeconds.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The pid of the relay running in <paramref name="cli"/>'s home, from its relay.json.</summary>
    public static int Pid(FerryCli cli) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(cli.Home, "relay.json"))).RootElement.GetProperty("Pid").GetInt32();

    /// <summary>Whether the registered relay <paramref name="relayId"/> (host:pid:tail) is process <paramref name="pid"/>.</summary>
    public static bool IsRelay(string relayId, int pid) => relayId.Contains($":{pid}:", StringComparison.Ordinal);

    /// <summary>Each live relay's unexpired leases, from `ferry status --json` run in <paramref name="cli"/>'s home.</summary>
    public static async Task<Dictionary<string, List<string>>> LeasesAsync(FerryCli cli, double leaseSeconds)
    {
        using var doc = JsonDocument.Parse((await cli.OkAsync("status", "--json")).Out);
        if (!doc.RootElement.TryGetProperty("relays", out var relays)) return [];
        return relays.EnumerateArray().Where(r => r.GetProperty("heartbeat_age_seconds").GetDouble() < leaseSeconds)
            .ToDictionary(r => r.GetProperty("id").GetString()!, r => r.GetProperty("leases").EnumerateArray().Select(l => l.GetString()!).ToList());
    }
}
