using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>
/// Passwords given with pass= are kept in the 0600 store and nowhere else: not in any command's output, not in
/// `ferry list`, not in `ferry status`, not in ferry.log — even when the password is the thing that is wrong.
/// </summary>
[Collection("servers")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SecretsTests(ServerFixture servers)
{
    [Fact]
    public async Task a_password_changed_behind_ferrys_back_is_reported_by_user_and_never_shown()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_password_changed_behind_ferrys_back_is_reported_by_user_and_never_shown),
            "CREATE TABLE items (id int PRIMARY KEY, name text)", ["public.items"]);
        // A role of this test's own: changing ferry_repl's password would break the tests running beside this one.
        var user = "ferry_pw_" + Guid.NewGuid().ToString("N")[..8];
        const string oldSecret = "Old-S3cret-4417";
        const string newSecret = "New-S3cret-8802";
        for (var i = 0; i < 2; i++)
        {
            await servers[i].ExecuteAsync("postgres",
                $"CREATE ROLE {user} LOGIN PASSWORD '{oldSecret}'; GRANT CONNECT, CREATE ON DATABASE \"{t.Database}\" TO {user}", default);
            await servers[i].ExecuteAsync(t.Database,
                $"GRANT USAGE ON SCHEMA public TO {user}; GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER ON items TO {user}", default);
        }
        var outputs = new List<CliResult> { await t.Cli.OkAsync("install") };
        for (var i = 0; i < 2; i++)
            outputs.Add(await t.Cli.OkAsync("add", "database", Topology.NodeName(i), $"dbname={t.Database}", $"host={servers[i].Host}",
                $"port={servers[i].Port}", $"user={user}", $"pass={oldSecret}"));
        outputs.Add(await t.Cli.OkAsync("add", "sync", "s", "tables=items", "dbs=db1:source,db2:target"));

        await servers[1].ExecuteAsync("postgres", $"ALTER ROLE {user} PASSWORD '{newSecret}'", default);
        outputs.Add(await t.Cli.OkAsync("start"));
        var status = await Eventually.UntilAsync(() => t.Cli.OkAsync("status"),
            r => r.Out.Contains("Password authentication failed", StringComparison.Ordinal), TimeSpan.FromSeconds(60),
            "the relay to report the refused password");
        outputs.Add(status);
        Assert.Contains($"user '{user}'", status.Out, StringComparison.Ordinal);
        outputs.Add(await t.Cli.OkAsync("list", "all"));
        outputs.Add(await t.Cli.OkAsync("list", "databases"));
        outputs.Add(await t.Cli.OkAsync("stop"));

        var everything = string.Join("\n", outputs.Select(o => o.All)) + "\n" + t.Cli.LogText;
        Assert.Contains("Password authentication failed", t.Cli.LogText, StringComparison.Ordinal);
        Assert.DoesNotContain(oldSecret, everything, StringComparison.Ordinal);
        Assert.DoesNotContain(newSecret, everything, StringComparison.Ordinal);
    }

    [Fact]
    public async Task a_password_from_stdin_the_environment_or_a_passfile_works_and_is_never_printed()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_password_from_stdin_the_environment_or_a_passfile_works_and_is_never_printed),
            "CREATE TABLE items (id int PRIMARY KEY, name text)", ["public.items"]);
        var user = "ferry_pw_" + Guid.NewGuid().ToString("N")[..8];
        const string secret = "Stdin-S3cret-5531";
        for (var i = 0; i < 3; i++)
            await servers[i].ExecuteAsync("postgres",
                $"CREATE ROLE {user} LOGIN PASSWORD '{secret}'; GRANT CONNECT, CREATE ON DATABASE \"{t.Database}\" TO {user}", default);
        string[] Add(int i, params string[] extra) =>
            ["add", "database", Topology.NodeName(i), $"dbname={t.Database}", $"host={servers[i].Host}", $"port={servers[i].Port}",
             $"user={user}", .. extra];
        var outputs = new List<CliResult> { await t.Cli.OkAsync("install") };

        // pass=- with nothing on standard input: refused, nothing added.
        Refusal.AssertRefused(await t.Cli.RunWithInputAsync("", Add(0, "pass=-")), Refusal.Usage, "pass=- without input",
            "standard input", "PGPASSWORD");
        // pass=-: one line from standard input (a pipe, so no prompt).
        outputs.Add(await OkAsync(t.Cli.RunWithInputAsync(secret + "\n", Add(0, "pass=-"))));
        // PGPASSWORD, as libpq and Npgsql read it.
        t.Cli.Environment["PGPASSWORD"] = secret;
        outputs.Add(await t.Cli.OkAsync(Add(1)));
        t.Cli.Environment.Remove("PGPASSWORD");
        // passfile= (a .pgpass-format file; ~/.pgpass is the default of the same mechanism).
        var passfile = Path.Combine(t.Cli.Home, "pgpass");
        await File.WriteAllTextAsync(passfile, $"{servers[2].Host}:{servers[2].Port}:{t.Database}:{user}:{secret}\n");
        File.SetUnixFileMode(passfile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        outputs.Add(await t.Cli.OkAsync(Add(2, $"passfile={passfile}")));
        outputs.Add(await t.Cli.OkAsync("list", "databases"));
        Assert.Contains("db3", outputs[^1].Out, StringComparison.Ordinal);

        var everything = string.Join("\n", outputs.Select(o => o.All)) + "\n" + t.Cli.LogText;
        Assert.DoesNotContain(secret, everything, StringComparison.Ordinal);
    }

    private static async Task<CliResult> OkAsync(Task<CliResult> run)
    {
        var r = await run;
        Assert.True(r.ExitCode == 0, r.ToString());
        return r;
    }
}
