using System.Diagnostics;
using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>`ferry install`: the control store, and Bucardo's ways of calling install. No servers needed.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // file modes are what is tested; ferry runs on Unix
public sealed class InstallTests : IDisposable
{
    private readonly FerryCli _cli = new();

    public void Dispose() => _cli.Dispose();

    private string StorePath => Path.Combine(_cli.Home, "ferry.db");

    [Fact]
    public async Task install_creates_a_store_only_its_owner_can_read_and_says_where()
    {
        var r = await _cli.OkAsync("install");
        Assert.Contains(StorePath, r.Out, StringComparison.Ordinal);
        // It may hold passwords (pass=): mode 0600.
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(StorePath));
    }

    [Fact]
    public async Task a_store_in_a_new_folder_gets_a_folder_only_its_owner_can_enter()
    {
        _cli.Environment["FERRY_HOME"] = Path.Combine(_cli.Home, "nested", "home");
        await _cli.OkAsync("install");
        var folder = Path.Combine(_cli.Home, "nested", "home");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(folder, "ferry.db")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(folder));
    }

    [Fact]
    public async Task install_twice_is_fine_says_which_store_and_keeps_the_configuration()
    {
        await _cli.OkAsync("install");
        await _cli.OkAsync("add", "herd", "h"); // a herd needs no database: configuration without servers
        var again = await _cli.OkAsync("install");
        Assert.Contains("already installed", again.Out, StringComparison.Ordinal);
        Assert.Contains(StorePath, again.Out, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^h\s*$", (await _cli.OkAsync("list", "herds")).Out);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(StorePath));
    }

    [Fact]
    public async Task install_accepts_bucardos_options_and_says_they_are_not_needed()
    {
        // Bucardo's --dbname, --dbhost, ... now name a PostgreSQL control store (PostgresStoreTests); these mean nothing.
        var r = await _cli.OkAsync("install", "--pid-dir=/var/run/bucardo", "--batch");
        Assert.Contains("--pid-dir", r.Out, StringComparison.Ordinal);
        Assert.Contains("mean nothing to ferry", r.Out, StringComparison.Ordinal);
        Assert.True(File.Exists(StorePath));
    }

    [Fact]
    public async Task install_with_a_piped_yes_works()
    {
        // Bucardo's install asks for confirmation; its users' scripts pipe "y" into it.
        var psi = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("echo y | dotnet \"$0\" install");
        psi.ArgumentList.Add(FerryCli.Dll);
        psi.Environment["FERRY_HOME"] = _cli.Home;
        using var p = Process.Start(psi)!;
        var stdout = await p.StandardOutput.ReadToEndAsync();
        var stderr = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, stdout + stderr);
        Assert.Contains("Installed", stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(StorePath));
    }

    [Fact]
    public async Task install_refuses_an_unknown_option_and_creates_nothing()
    {
        var r = await _cli.RunAsync("install", "colour=blue");
        Refusal.AssertRefused(r, Refusal.Usage, "ferry install colour=blue", "colour");
        Assert.False(File.Exists(StorePath));
    }

    [Fact]
    public async Task install_refuses_stray_words_and_creates_nothing()
    {
        var r = await _cli.RunAsync("install", "now");
        Refusal.AssertRefused(r, Refusal.Usage, "ferry install now", "'now'");
        Assert.False(File.Exists(StorePath));
    }

    [Theory]
    [InlineData("list")]
    [InlineData("status")]
    [InlineData("add", "herd", "h")]
    [InlineData("add", "database", "a", "dbname=a")]
    [InlineData("remove", "sync", "s")]
    [InlineData("kick", "s")]
    public async Task every_verb_before_install_says_to_run_install_and_creates_nothing(params string[] args)
    {
        var r = await _cli.RunAsync(args);
        Refusal.AssertRefused(r, Refusal.Failure, "ferry " + string.Join(' ', args), "ferry install", StorePath);
        Assert.False(File.Exists(StorePath));
    }
}
