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
    public async Task help_of_every_verb_gives_its_forms_and_one_line_per_key()
    {
        var overview = await _cli.OkAsync("help");
        Assert.Equal((await _cli.OkAsync("--help")).Out, overview.Out);
        var verbs = System.Text.RegularExpressions.Regex.Matches(overview.Out, @"(?m)^  ([a-z]+) <").Select(m => m.Groups[1].Value).ToList();
        foreach (var verb in new[] { "pause", "resume", "update", "validate", "help" }) Assert.Contains(verb, verbs);
        // Every verb listed has its page, through both spellings, without a ferry home (help needs none).
        var pages = await Task.WhenAll(verbs.Select(v => _cli.RunAsync("help", v)));
        foreach (var (verb, page) in verbs.Zip(pages))
        {
            Assert.True(page.ExitCode == 0, $"ferry help {verb}: {page}");
            Assert.Contains($"ferry {verb}: ", page.Out, StringComparison.Ordinal);
            Assert.Contains("Usage:", page.Out, StringComparison.Ordinal);
            Assert.Matches(@"(?m)^Keys:( none\.)?$", page.Out);
        }
        var add = await _cli.OkAsync("add", "--help");
        Assert.Equal((await _cli.OkAsync("help", "add")).Out, add.Out);
        foreach (var key in new[] { "dbname=D", "pass=-", "sslmode=M", "herd=H", "conflict_strategy=RULE", "onetimecopy=N" })
            Assert.Matches($@"(?m)^  {System.Text.RegularExpressions.Regex.Escape(key)}\s+\S", add.Out);
        Assert.Matches(@"(?m)^  status=S\s+update sync: active or inactive", (await _cli.OkAsync("update", "-h")).Out);
        Assert.Contains("to=DB", (await _cli.OkAsync("copy", "--help")).Out, StringComparison.Ordinal);
        Refusal.AssertRefused(await _cli.RunAsync("help", "replicate"), Refusal.Usage, "ferry help replicate",
            "No command 'replicate'", "ferry help");
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
