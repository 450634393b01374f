using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>
/// FERRY_* settings are read strictly by every verb: a value ferry cannot use is a usage error naming the variable,
/// the value and the range, never a default silently put in its place. No servers needed.
/// </summary>
public sealed class SettingsTests : IDisposable
{
    private readonly FerryCli _cli = new();

    public void Dispose() => _cli.Dispose();

    [Theory]
    [InlineData("FERRY_CHUNK_ROWS", "99999999999999", "from 1 to 10,000,000")]
    [InlineData("FERRY_HTTP_PORT", "abc", "from 0 to 65,535")]
    [InlineData("FERRY_POLL_SECONDS", "-1", "seconds from 0.01 to 3,600")]
    [InlineData("FERRY_HTTP_BIND", "localhost:80", "an IPv4 address")]
    [InlineData("FERRY_HTTP_BIND", "::1", "IPv6 is not supported")]
    [InlineData("FERRY_LOG_FORMAT", "xml", "one of text, json")]
    public async Task a_bad_value_is_refused_by_every_verb_with_its_range(string variable, string value, string range)
    {
        _cli.Environment[variable] = value;
        // Before install: the check comes before anything, so even the verb that creates the home refuses.
        foreach (var verb in new[] { "install", "list", "status", "start" })
        {
            var r = await _cli.RunAsync(verb == "list" ? ["list", "all"] : [verb]);
            Refusal.AssertRefused(r, Refusal.Usage, $"{variable}={value} ferry {verb}", $"{variable}={value}", range, "unset it");
        }
        Assert.False(File.Exists(Path.Combine(_cli.Home, "ferry.db")));
    }

    [Fact]
    public async Task settings_that_contradict_each_other_are_refused()
    {
        _cli.Environment["FERRY_CHUNK_ROWS"] = "500";
        _cli.Environment["FERRY_CHUNK_ROWS_MIN"] = "1000";
        var r = await _cli.RunAsync("install");
        Refusal.AssertRefused(r, Refusal.Usage, "ferry install", "FERRY_CHUNK_ROWS_MIN=1000", "FERRY_CHUNK_ROWS=500");
    }

    [Fact]
    public async Task a_misspelt_setting_is_named_with_the_one_meant()
    {
        _cli.Environment["FERRY_CHUNK_ROW"] = "5000";
        var r = await _cli.OkAsync("install");
        Assert.Contains("ferry: warning: FERRY_CHUNK_ROW is set but is no ferry setting", r.Err, StringComparison.Ordinal);
        Assert.Contains("did you mean FERRY_CHUNK_ROWS?", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ferry_conf_beside_the_store_is_read_under_the_environment_and_its_mistakes_name_file_and_line()
    {
        await _cli.OkAsync("install");
        var conf = Path.Combine(_cli.Home, "ferry.conf");
        void Write(string text)
        {
            File.WriteAllText(conf, text);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(conf, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        var port = FreePort();
        Write($"# the relay's endpoint\nFERRY_HTTP_PORT={port}\nexport FERRY_POLL_SECONDS = \"0.25\"\n");
        Assert.Contains($":{port}/", (await _cli.OkAsync("start")).Out, StringComparison.Ordinal);
        await _cli.OkAsync("stop");

        Write("\nFERRY_CHUNK_ROWS=99999999999999\n");
        Refusal.AssertRefused(await _cli.RunAsync("list", "all"), Refusal.Usage, "a bad value in ferry.conf",
            $"FERRY_CHUNK_ROWS=99999999999999 in {conf} line 2", "from 1 to 10,000,000", "remove the line");
        // The environment wins over the file.
        _cli.Environment["FERRY_CHUNK_ROWS"] = "5000";
        await _cli.OkAsync("list", "all");
        _cli.Environment.Remove("FERRY_CHUNK_ROWS");

        Write("FERRY_CHUNK_ROW=5000\n");
        Refusal.AssertRefused(await _cli.RunAsync("list", "all"), Refusal.Usage, "a misspelt name in ferry.conf",
            $"{conf} line 1: FERRY_CHUNK_ROW is no ferry setting", "did you mean FERRY_CHUNK_ROWS?");
        Write("FERRY_POLL_SECONDS=1\nchunk rows 5000\n");
        Refusal.AssertRefused(await _cli.RunAsync("list", "all"), Refusal.Usage, "a line that is no setting", $"{conf} line 2 is not a setting");
        Write("FERRY_HOME=/elsewhere\n");
        Refusal.AssertRefused(await _cli.RunAsync("list", "all"), Refusal.Usage, "FERRY_HOME in ferry.conf", "cannot be set in the file it locates");
    }

    private static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }

    [Fact]
    public async Task good_values_and_empty_ones_are_taken()
    {
        _cli.Environment["FERRY_CHUNK_ROWS"] = "10_000";
        _cli.Environment["FERRY_POLL_SECONDS"] = "0.25";
        _cli.Environment["FERRY_HTTP_BIND"] = "0.0.0.0";
        _cli.Environment["FERRY_LOG_FORMAT"] = "JSON";
        _cli.Environment["FERRY_DEAD_LINK_SECONDS"] = "";
        await _cli.OkAsync("install");
    }
}
