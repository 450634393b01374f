using System.Diagnostics;
using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>
/// The contract every bad input is held to: a sentence on stderr (no stack trace), exit 2 for a misused command
/// line or 1 for a failure, and no change at all — to the control store (`ferry list all` reads the same before
/// and after) and, where databases are involved, to the databases (no schema ferry, no capture trigger).
/// </summary>
internal static class Refusal
{
    public const int Usage = 2;
    public const int Failure = 1;

    /// <summary>Runs a command that must be refused, and checks the refusal and that nothing changed.</summary>
    public static async Task<CliResult> RefusesAsync(this FerryCli cli, int exit, string[] args, params string[] says)
    {
        var before = await cli.RunAsync("list", "all");
        var result = await cli.RunAsync(args);
        AssertRefused(result, exit, $"ferry {string.Join(' ', args)}", says);
        var after = await cli.RunAsync("list", "all");
        Assert.True(before.All == after.All,
            $"ferry {string.Join(' ', args)} was refused but changed the configuration:\n--- before\n{before.All}\n--- after\n{after.All}");
        return result;
    }

    public static void AssertRefused(CliResult result, int exit, string what, params string[] says)
    {
        Assert.True(result.ExitCode == exit, $"{what}: expected exit {exit}, got {result}");
        // One clear sentence, not a .NET stack trace or System.CommandLine's help text dumped on stdout.
        Assert.True(result.Err.StartsWith("ferry: ", StringComparison.Ordinal), $"{what}: stderr should start with 'ferry: ': {result}");
        Assert.DoesNotContain("   at ", result.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", result.Err, StringComparison.Ordinal);
        foreach (var s in says)
            Assert.True(result.Err.Contains(s, StringComparison.Ordinal), $"{what}: stderr should say '{s}': {result}");
    }

    /// <summary>As superuser: no trace of ferry in the test's database on any server.</summary>
    public static async Task AssertNoFerryObjectsAsync(ServerFixture servers, string database)
    {
        foreach (var s in servers.Servers)
        {
            Assert.Equal(0L, await s.ScalarAsync<long>(database, "SELECT count(*) FROM pg_namespace WHERE nspname = 'ferry'", default));
            Assert.Equal(0L, await CaptureTriggersAsync(s, database));
        }
    }

    /// <summary>Ferry's capture triggers in a database, optionally on one table (quoted, e.g. <c>public.items</c>).</summary>
    public static Task<long> CaptureTriggersAsync(Local.LocalServer s, string database, string? quotedTable = null) =>
        s.ScalarAsync<long>(database,
            "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'ferry\\_capture\\_%'" +
            (quotedTable is null ? "" : $" AND tgrelid = to_regclass('{quotedTable.Replace("'", "''", StringComparison.Ordinal)}')"),
            default);

    /// <summary>Runs a verb and returns how long it took, for the "fails fast" promises.</summary>
    public static async Task<(CliResult Result, TimeSpan Took)> TimedAsync(this FerryCli cli, params string[] args)
    {
        var clock = Stopwatch.StartNew();
        var result = await cli.RunAsync(args);
        return (result, clock.Elapsed);
    }

    /// <summary>`ferry add database NAME` for server <paramref name="server"/> of the topology, with extra key=value pairs.</summary>
    public static string[] AddDatabaseArgs(Topology t, string name, int server, params string[] extra) =>
        ["add", "database", name, $"dbname={t.Database}", $"host={t.Servers[server].Host}", $"port={t.Servers[server].Port}",
         $"user={RestrictedRole.User}", $"pass={RestrictedRole.Password}", .. extra];
}
