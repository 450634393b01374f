using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>The command tree itself: help, and command lines no verb understands. No servers needed.</summary>
public sealed class HelpTests : IDisposable
{
    private readonly FerryCli _cli = new();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task help_lists_every_verb_under_the_name_people_type()
    {
        var r = await _cli.OkAsync("--help");
        foreach (var verb in new[] { "install", "add", "list", "remove", "start", "stop", "restart", "status", "kick" })
            Assert.Matches($@"(?m)^\s+{verb}\b", r.Out);
        // The usage line names the command, not the assembly it is built from.
        Assert.Contains("ferry [command]", r.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("Ferry.Cli", r.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("debug", r.Out, StringComparison.Ordinal); // hidden: for tests and operators who know
    }

    [Fact]
    public async Task help_of_a_verb_describes_it()
    {
        var r = await _cli.OkAsync("add", "--help");
        Assert.Contains("ferry add", r.Out, StringComparison.Ordinal);
        Assert.Contains("dbgroup", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task an_unknown_verb_is_a_usage_error_that_points_to_help()
    {
        var r = await _cli.RunAsync("replicate", "everything");
        Refusal.AssertRefused(r, Refusal.Usage, "ferry replicate", "replicate", "ferry --help");
        Assert.Equal("", r.Out); // the error, not a screenful of help, so scripts see what went wrong
    }

    [Fact]
    public async Task no_verb_at_all_is_a_usage_error()
    {
        var r = await _cli.RunAsync();
        Refusal.AssertRefused(r, Refusal.Usage, "ferry", "ferry --help");
    }

    [Fact]
    public async Task an_unknown_option_to_start_is_a_usage_error_and_starts_nothing()
    {
        await _cli.OkAsync("install");
        var r = await _cli.RunAsync("start", "--colour=blue");
        Refusal.AssertRefused(r, Refusal.Usage, "ferry start --colour=blue", "--colour=blue");
        Assert.False(File.Exists(Path.Combine(_cli.Home, "relay.json")));
    }

    [Fact]
    public async Task version_is_printed()
    {
        var r = await _cli.OkAsync("--version");
        Assert.Matches(@"^\d+\.\d+\.\d+", r.Out);
    }

    [Fact]
    public async Task version_as_a_verb_names_ferry_and_the_schema_it_installs()
    {
        var plain = await _cli.OkAsync("--version");
        var r = await _cli.OkAsync("version");
        Assert.StartsWith($"ferry {plain.Out.Trim()} (database schema ", r.Out, StringComparison.Ordinal);
    }
}
