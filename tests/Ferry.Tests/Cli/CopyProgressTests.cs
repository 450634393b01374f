using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ferry.Local;
using Ferry.Tests.Harness;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace Ferry.Tests.Cli;

/// <summary>
/// A long copy is never silent: plain progress lines with rows, percent, rate and ETA while it runs, and 100% at the
/// table's end; `ferry status --json` shows it running, with rows done. Ctrl-C (SIGINT) ends it cleanly: exit 130,
/// "interrupted", no PostgreSQL error, and the command that resumes it, which then finishes with the source's rows;
/// a compare interrupted names the tables left and the command that compares them.
/// </summary>
[Collection("servers")]
public sealed partial class CopyProgressTests(ServerFixture servers, ITestOutputHelper output)
{
    private const string Schema = "CREATE TABLE bulk (id int PRIMARY KEY, v text NOT NULL, n int)";
    private const int Rows = 200_000;
    private static readonly string Content = Fingerprint.RowsSql("bulk");

    [Fact]
    public async Task a_copy_prints_progress_lines_with_rising_rows_and_ends_at_100_percent()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_copy_prints_progress_lines_with_rising_rows_and_ends_at_100_percent),
            Schema, ["public.bulk"]);
        await t.AddDatabasesAsync(2);
        await t.ExecAsync(0, $"INSERT INTO bulk SELECT g, md5(g::text), g FROM generate_series(1, {Rows}) AS g");
        t.Cli.Environment["FERRY_PROGRESS"] = "plain";
        t.Cli.Environment["FERRY_PROGRESS_SECONDS"] = "0.05";
        t.Cli.Environment["FERRY_COPY_SLICE_ROWS"] = "5000";

        var added = await t.Cli.OkAsync("add", "sync", "s", "tables=bulk", "dbs=db1:source,db2:target", "onetimecopy=1");
        output.WriteLine(added.Out);
        var lines = added.Out.Split('\n').Where(l => l.StartsWith("copy db1 -> db2 \"public\".\"bulk\": ", StringComparison.Ordinal)).ToList();
        var done = lines.Select(l => long.Parse(RowsDone().Match(l).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.True(lines.Count >= 3, $"at least two progress lines and the last: {lines.Count}");
        Assert.All(lines.SkipLast(1), l => Assert.Matches(@"/200000 rows \(\d+%\), \d+ rows/s, [\d.]+ MB/s", l));
        Assert.True(done.Zip(done.Skip(1)).All(p => p.First < p.Second), "rows rise from line to line: " + string.Join(", ", done));
        Assert.Contains($"{Rows}/{Rows} rows (100%)", lines[^1], StringComparison.Ordinal);
        Assert.Equal(await t.ScalarAsync<string>(0, Content), await t.ScalarAsync<string>(1, Content));
    }

    [Fact]
    public async Task status_shows_a_running_copy_and_sigint_ends_a_copy_or_a_compare_with_the_command_that_goes_on()
    {
        // The target's link is slow, so the copy runs for a while: status can see it, and the signal meets it part-way.
        await using var targetLink = FaultProxy.Start(servers[1], TimeSpan.FromMinutes(5));
        await using var t = await Topology.CreateAsync(servers, nameof(status_shows_a_running_copy_and_sigint_ends_a_copy_or_a_compare_with_the_command_that_goes_on),
            Schema, ["public.bulk"]);
        await t.AddDatabasesAsync(new Dictionary<int, FaultProxy> { [1] = targetLink }, count: 2);
        await t.ExecAsync(0, $"INSERT INTO bulk SELECT g, md5(g::text), g FROM generate_series(1, {Rows}) AS g");
        await t.Cli.OkAsync("add", "sync", "s", "tables=bulk", "dbs=db1:source,db2:target");
        t.Cli.Environment["FERRY_PROGRESS_SECONDS"] = "0.2";
        t.Cli.Environment["FERRY_COPY_SLICE_ROWS"] = "10000";
        targetLink.BandwidthBytesPerSecond = 1_000_000;

        using var copy = t.Cli.Start("copy", "s", "to=db2");
        var stdout = copy.StandardOutput.ReadToEndAsync();
        var stderr = copy.StandardError.ReadToEndAsync();
        var running = await Eventually.UntilAsync(async () => Copies((await t.Cli.OkAsync("status", "--json")).Out),
            c => c.Count == 1 && c[0].GetProperty("rows_done") is { ValueKind: JsonValueKind.Number } r && r.GetInt64() > 0,
            TimeSpan.FromSeconds(60), "status to show the copy with rows done");
        Assert.Equal("copying", running[0].GetProperty("state").GetString());
        Assert.Equal("db2", running[0].GetProperty("target").GetString());
        Assert.Equal("\"public\".\"bulk\"", running[0].GetProperty("table").GetString());
        Assert.Equal(Rows, running[0].GetProperty("rows_estimate").GetInt64());
        Assert.Contains("copying (pid ", (await t.Cli.OkAsync("status")).Out, StringComparison.Ordinal);

        Assert.Equal(0, Kill(copy.Id, 2));
        using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60))) await copy.WaitForExitAsync(deadline.Token);
        var (outText, err) = (await stdout, await stderr);
        output.WriteLine($"exit {copy.ExitCode}\n{outText}\n{err}");
        Assert.Equal(130, copy.ExitCode);
        Assert.Contains("ferry: interrupted: the copy into db2 from db1 stopped in \"public\".\"bulk\" (1 of 1 tables) at ", err, StringComparison.Ordinal);
        Assert.DoesNotContain("PostgreSQL", err, StringComparison.Ordinal);
        Assert.DoesNotContain("SQLSTATE", err, StringComparison.Ordinal);
        var resume = Regex.Match(err, "resumes after it: ferry (.+)$", RegexOptions.Multiline).Groups[1].Value.Trim();
        Assert.Equal("copy s to=db2 from=db1", resume);
        var stopped = Copies((await t.Cli.OkAsync("status", "--json")).Out);
        Assert.Equal("interrupted", stopped.Single().GetProperty("state").GetString());
        Assert.Equal("ferry copy s to=db2 from=db1", stopped.Single().GetProperty("resume").GetString());

        targetLink.BandwidthBytesPerSecond = 0;
        var resumed = await t.Cli.OkAsync(resume.Split(' '));
        Assert.Contains("db2: resuming the copy from db1", resumed.Out, StringComparison.Ordinal);
        Assert.Equal(await t.ScalarAsync<string>(0, Content), await t.ScalarAsync<string>(1, Content));
        Assert.Empty(Copies((await t.Cli.OkAsync("status", "--json")).Out));

        // A compare too: interrupted while it waits for db2 (the table locked there), it names the tables left and the
        // command that compares them.
        await using var locker = new NpgsqlConnection(servers[1].AdminConnectionString(t.Database));
        await locker.OpenAsync();
        await using var locked = await locker.BeginTransactionAsync();
        await using (var lockTable = new NpgsqlCommand("LOCK TABLE bulk IN ACCESS EXCLUSIVE MODE", locker, locked))
            await lockTable.ExecuteNonQueryAsync();
        using var compare = t.Cli.Start("compare", "s");
        var compareOut = compare.StandardOutput.ReadToEndAsync();
        var compareErr = compare.StandardError.ReadToEndAsync();
        await Eventually.UntilAsync(async () => await servers[1].ScalarAsync<bool>(t.Database,
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'ferry compare' AND wait_event_type = 'Lock')", default),
            TimeSpan.FromSeconds(60), "the compare to wait for db2's table");
        Assert.Equal(0, Kill(compare.Id, 2));
        using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60))) await compare.WaitForExitAsync(deadline.Token);
        output.WriteLine($"exit {compare.ExitCode}\n{await compareOut}\n{await compareErr}");
        Assert.Equal(130, compare.ExitCode);
        Assert.Contains("ferry: interrupted: compared 0 of 1 tables. To compare the rest: ferry compare s tables=bulk", await compareErr, StringComparison.Ordinal);
        Assert.DoesNotContain("PostgreSQL", await compareErr, StringComparison.Ordinal);
    }

    private static List<JsonElement> Copies(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("copies").EnumerateArray().Select(e => e.Clone()).ToList();
    }

    [GeneratedRegex(@": (\d+)(/\d+)? rows")]
    private static partial Regex RowsDone();

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
