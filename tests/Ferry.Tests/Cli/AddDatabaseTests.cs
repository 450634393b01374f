using System.Net;
using System.Net.Sockets;
using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>`ferry add database`: lines refused before any connection is tried. No servers needed.</summary>
public sealed class AddDatabaseUsageTests : InstalledStoreTests
{
    [Fact]
    public async Task an_unknown_key_is_refused_and_named() =>
        await Cli.RefusesAsync(Refusal.Usage, ["add", "database", "x", "dbname=a", "colour=blue"], "Unknown key 'colour'", "dbhost");

    [Theory]
    [InlineData("x;drop")]
    [InlineData("x\"y")]
    [InlineData("x y")]
    [InlineData("x'y")]
    [InlineData("-x")]
    public async Task a_name_with_quotes_semicolons_or_spaces_is_refused(string name) =>
        await Cli.RefusesAsync(Refusal.Usage, ["add", "database", name, "dbname=a"], $"'{name}' is not a valid database name", "letters, digits");

    [Theory]
    [InlineData("Which database?", "add", "database", "x", "host=h")]
    [InlineData("Expected: ferry add database NAME", "add", "database", "dbname=a")]
    [InlineData("Expected: ferry add database NAME", "add", "database", "x", "y", "dbname=a")]
    [InlineData("port must be a number", "add", "database", "x", "dbname=a", "port=abc")]
    [InlineData("port must be a number", "add", "database", "x", "dbname=a", "port=70000")]
    [InlineData("sslmode must be one of", "add", "database", "x", "dbname=a", "sslmode=sometimes")]
    [InlineData("channel_binding must be one of", "add", "database", "x", "dbname=a", "channel_binding=bogus")]
    [InlineData("target_session_attrs must be one of", "add", "database", "x", "dbname=a", "target_session_attrs=zzz")]
    [InlineData("connect_timeout is a number of seconds", "add", "database", "x", "dbname=a", "connect_timeout=soon")]
    [InlineData("'host' and 'dbhost' mean the same thing", "add", "database", "x", "dbname=a", "host=h1", "dbhost=h2")]
    [InlineData("'pass' and 'dbpass' mean the same thing", "add", "database", "x", "dbname=a", "pass=p1", "dbpass=p2")]
    [InlineData("given twice", "add", "database", "x", "dbname=a", "dbname=b")]
    [InlineData("Add what?", "add")]
    [InlineData("Cannot add 'widget'", "add", "widget", "w")]
    public async Task a_malformed_line_is_a_usage_error_that_says_what_to_write(string says, params string[] args) =>
        await Cli.RefusesAsync(Refusal.Usage, args, says);
}

/// <summary>`ferry add database` against real servers, unreachable ones and impostors.</summary>
[Collection("servers")]
public sealed class AddDatabaseTests(ServerFixture servers)
{
    private Task<Topology> TopologyAsync(string test) => Topology.CreateAsync(servers, test, "CREATE TABLE items (id int PRIMARY KEY)", ["public.items"]);

    [Fact]
    public async Task bucardos_spellings_of_the_keys_add_a_database()
    {
        await using var t = await TopologyAsync(nameof(bucardos_spellings_of_the_keys_add_a_database));
        await t.Cli.OkAsync("install");
        var s = servers[1];
        var r = await t.Cli.OkAsync("add", "db", "b1", $"dbname={t.Database}", $"dbhost={s.Host}", $"dbport={s.Port}",
            $"dbuser={RestrictedRole.User}", $"dbpass={RestrictedRole.Password}");
        Assert.Contains($"Added database b1 ({RestrictedRole.User}@{s.Host}:{s.Port}/{t.Database})", r.Out, StringComparison.Ordinal);
        var list = (await t.Cli.OkAsync("list", "databases")).Out;
        Assert.Matches($@"(?m)^b1\s+{t.Database}\s+{Regex(s.Host)}\s+{s.Port}\s+{RestrictedRole.User}\s+stored\s*$", list);
    }

    [Fact]
    public async Task a_database_added_twice_is_refused()
    {
        await using var t = await TopologyAsync(nameof(a_database_added_twice_is_refused));
        await t.AddDatabasesAsync(1);
        await t.Cli.RefusesAsync(Refusal.Failure, Refusal.AddDatabaseArgs(t, "db1", 1), "'db1' already exists", "ferry remove database db1");
    }

    [Fact]
    public async Task a_wrong_password_names_the_user_and_never_shows_the_password()
    {
        await using var t = await TopologyAsync(nameof(a_wrong_password_names_the_user_and_never_shows_the_password));
        await t.Cli.OkAsync("install");
        const string secret = "Wr0ng-S3cret-9931";
        var args = Refusal.AddDatabaseArgs(t, "x", 0).Select(a => a.StartsWith("pass=", StringComparison.Ordinal) ? "pass=" + secret : a).ToArray();
        var r = await t.Cli.RefusesAsync(Refusal.Failure, args, "Password authentication failed", $"user '{RestrictedRole.User}'", "pass=");
        var list = await t.Cli.OkAsync("list", "databases");
        foreach (var text in new[] { r.Out, r.Err, list.All, t.Cli.LogText })
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task a_database_name_that_does_not_exist_on_the_server_is_named()
    {
        await using var t = await TopologyAsync(nameof(a_database_name_that_does_not_exist_on_the_server_is_named));
        await t.Cli.OkAsync("install");
        var args = Refusal.AddDatabaseArgs(t, "x", 0).Select(a => a.StartsWith("dbname=", StringComparison.Ordinal) ? "dbname=no_such_db" : a).ToArray();
        await t.Cli.RefusesAsync(Refusal.Failure, args, "'no_such_db' does not exist", "dbname=");
    }

    [Fact]
    public async Task a_database_where_ferry_lacks_create_gets_the_exact_grant_to_run()
    {
        await using var t = await TopologyAsync(nameof(a_database_where_ferry_lacks_create_gets_the_exact_grant_to_run));
        await t.Cli.OkAsync("install");
        await servers[0].ExecuteAsync("postgres", $"REVOKE CREATE ON DATABASE \"{t.Database}\" FROM {RestrictedRole.User}", default);
        await t.Cli.RefusesAsync(Refusal.Failure, Refusal.AddDatabaseArgs(t, "x", 0),
            "was not added", $"GRANT CREATE ON DATABASE \"{t.Database}\" TO \"{RestrictedRole.User}\";", "superuser or the database owner");
        // Once granted, the same line works: the message was the whole fix.
        await servers[0].ExecuteAsync("postgres", $"GRANT CREATE ON DATABASE \"{t.Database}\" TO {RestrictedRole.User}", default);
        await t.Cli.OkAsync(Refusal.AddDatabaseArgs(t, "x", 0));
    }

    [Fact]
    public async Task a_port_with_nothing_listening_fails_fast_and_says_so()
    {
        await using var t = await TopologyAsync(nameof(a_port_with_nothing_listening_fails_fast_and_says_so));
        await t.Cli.OkAsync("install");
        var port = FreePort();
        var (r, took) = await t.Cli.TimedAsync("add", "database", "x", "dbname=a", "host=127.0.0.1", $"port={port}", "user=u", "pass=p");
        Refusal.AssertRefused(r, Refusal.Failure, "add database on a dead port", "Cannot reach", "connection refused", $"port {port}");
        Assert.True(took < TimeSpan.FromSeconds(15), $"took {took}");
        Assert.DoesNotMatch(@"(?m)^x\s", (await t.Cli.OkAsync("list", "databases")).Out);
    }

    [Fact]
    public async Task a_server_that_never_answers_fails_within_the_connect_timeout()
    {
        await using var t = await TopologyAsync(nameof(a_server_that_never_answers_fails_within_the_connect_timeout));
        await t.Cli.OkAsync("install");
        // Accepts the connection and then says nothing, like a firewall that blackholes the link.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var port = ((IPEndPoint)silent.LocalEndpoint).Port;
        var (r, took) = await t.Cli.TimedAsync("add", "database", "x", "dbname=a", "host=127.0.0.1", $"port={port}", "user=u",
            "pass=p", "connect_timeout=3");
        Refusal.AssertRefused(r, Refusal.Failure, "add database on a silent port", "Cannot reach", "no answer within 3 s", "connect_timeout=");
        Assert.True(took < TimeSpan.FromSeconds(15), $"took {took}");
    }

    [Fact]
    public async Task something_that_is_not_postgresql_on_the_port_is_called_that()
    {
        await using var t = await TopologyAsync(nameof(something_that_is_not_postgresql_on_the_port_is_called_that));
        await t.Cli.OkAsync("install");
        using var web = new TcpListener(IPAddress.Loopback, 0);
        web.Start();
        var port = ((IPEndPoint)web.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource();
        var server = Task.Run(async () =>
        {
            // A web server on the port people typed by mistake; the driver may try more than once.
            while (!stop.IsCancellationRequested)
            {
                using var client = await web.AcceptTcpClientAsync(stop.Token);
                var stream = client.GetStream();
                await stream.ReadAtLeastAsync(new byte[64], 1, throwOnEndOfStream: false, stop.Token);
                await stream.WriteAsync("HTTP/1.1 400 Bad Request\r\n\r\n"u8.ToArray(), stop.Token);
            }
        });
        var (r, took) = await t.Cli.TimedAsync("add", "database", "x", "dbname=a", "host=127.0.0.1", $"port={port}", "user=u", "pass=p");
        await stop.CancelAsync();
        Refusal.AssertRefused(r, Refusal.Failure, "add database on a web server", "not PostgreSQL", $"127.0.0.1:{port}", "port=");
        Assert.True(took < TimeSpan.FromSeconds(15), $"took {took}");
        await server.ContinueWith(_ => { }, TaskScheduler.Default);
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static string Regex(string s) => System.Text.RegularExpressions.Regex.Escape(s);
}
