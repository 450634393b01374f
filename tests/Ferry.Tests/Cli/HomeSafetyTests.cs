using System.Diagnostics;
using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>
/// $FERRY_HOME is trusted only when no one else could have planted or changed what ferry reads and writes there: the
/// relay may run as root, and the store holds passwords. No servers needed.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HomeSafetyTests : IAsyncLifetime
{
    private const UnixFileMode Rwx = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private readonly FerryCli _cli = new();

    private string Store => Path.Combine(_cli.Home, "ferry.db");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        File.SetUnixFileMode(_cli.Home, Rwx);
        await _cli.RunAsync("stop");
        _cli.Dispose();
    }

    [Fact]
    public async Task install_makes_the_home_0700_and_every_file_ferry_writes_there_0600()
    {
        Directory.Delete(_cli.Home);
        await _cli.OkAsync("install");
        Assert.Equal(Rwx, File.GetUnixFileMode(_cli.Home));
        await _cli.OkAsync("start");
        await _cli.OkAsync("status");
        // While the relay runs: SQLite's -wal and -shm (gone once the last connection closes), relay.json, the lock.
        var running = AssertOwnerOnly();
        Assert.Contains("ferry.db-wal", running);
        Assert.Contains("ferry.db-shm", running);
        Assert.Contains("relay.json", running);
        Assert.Contains("relay.lock", running);
        Assert.Contains("ferry.log", running);
        await _cli.OkAsync("stop");
        AssertOwnerOnly();
    }

    private List<string?> AssertOwnerOnly()
    {
        foreach (var f in Directory.GetFiles(_cli.Home))
            Assert.True(File.GetUnixFileMode(f) == (UnixFileMode.UserRead | UnixFileMode.UserWrite), $"{f}: {File.GetUnixFileMode(f)}");
        return Directory.GetFiles(_cli.Home).Select(Path.GetFileName).ToList();
    }

    [Fact]
    public async Task a_home_or_store_others_can_touch_is_refused_with_the_command_that_fixes_it()
    {
        await _cli.OkAsync("install");
        File.SetUnixFileMode(_cli.Home, Rwx | UnixFileMode.OtherWrite | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        Refusal.AssertRefused(await _cli.RunAsync("list", "all"), Refusal.Failure, "a world-writable home",
            "writable by other users (mode 0707)", $"chmod 700 {_cli.Home}");
        File.SetUnixFileMode(_cli.Home, Rwx | UnixFileMode.GroupWrite);
        Refusal.AssertRefused(await _cli.RunAsync("start"), Refusal.Failure, "a group-writable home", $"chmod 700 {_cli.Home}");
        File.SetUnixFileMode(_cli.Home, Rwx);

        // Like libpq with ~/.pgpass: a store others can read is refused too, since it holds passwords.
        File.SetUnixFileMode(Store, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        Refusal.AssertRefused(await _cli.RunAsync("status"), Refusal.Failure, "a store others can read",
            "holds passwords", $"chmod 600 {Store}");
        File.SetUnixFileMode(Store, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupWrite);
        Refusal.AssertRefused(await _cli.RunAsync("status"), Refusal.Failure, "a store the group can write", $"chmod 600 {Store}");
        File.SetUnixFileMode(Store, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        // Owned by someone else (uid 4242 need not exist): they could loosen it again at any time. Only root may chown.
        if (Environment.UserName != "root") return;
        await ChownAsync(Store, 4242);
        Refusal.AssertRefused(await _cli.RunAsync("status"), Refusal.Failure, "a store of another user", "belongs to uid 4242", "chown");
        await ChownAsync(Store, 0);
        await ChownAsync(_cli.Home, 4242);
        Refusal.AssertRefused(await _cli.RunAsync("status"), Refusal.Failure, "a home of another user", "belongs to uid 4242", "chown");
        await ChownAsync(_cli.Home, 0);
        await _cli.OkAsync("status");
    }

    [Theory]
    [InlineData("relay.json.tmp")]
    [InlineData("ferry.log")]
    [InlineData("relay.json")]
    [InlineData("ferry.db-wal")]
    public async Task a_link_planted_in_the_home_is_refused_and_its_target_left_untouched(string name)
    {
        await _cli.OkAsync("install");
        var outside = Path.Combine(Path.GetTempPath(), "ferry-victim-" + Guid.NewGuid().ToString("N")[..8]);
        await File.WriteAllTextAsync(outside, "precious\n");
        try
        {
            File.Delete(Path.Combine(_cli.Home, name));
            File.CreateSymbolicLink(Path.Combine(_cli.Home, name), outside);
            Refusal.AssertRefused(await _cli.RunAsync("start"), Refusal.Failure, $"a link at {name}",
                $"{Path.Combine(_cli.Home, name)} is a symbolic link", $"rm {Path.Combine(_cli.Home, name)}");
            Refusal.AssertRefused(await _cli.RunAsync("status"), Refusal.Failure, $"a link at {name}", "symbolic link");
            Assert.Equal("precious\n", await File.ReadAllTextAsync(outside));
        }
        finally
        {
            File.Delete(outside);
        }
    }

    private static async Task ChownAsync(string path, int uid)
    {
        using var p = Process.Start(new ProcessStartInfo("chown", [uid.ToString(System.Globalization.CultureInfo.InvariantCulture), path])
            { UseShellExecute = false })!;
        await p.WaitForExitAsync();
        Assert.Equal(0, p.ExitCode);
    }
}
