using Ferry.Postgres;
using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>`ferry add database NAME postgresql://…`, `uri=` and `service=NAME`: libpq's forms, read by ferry.</summary>
[Collection("servers")]
public sealed class ConnectionUriTests(ServerFixture servers)
{
    [Fact]
    public void a_uri_reads_as_libpq_reads_it()
    {
        Assert.Equal(
            [("user", "a b"), ("password", "p@ss"), ("host", "::1"), ("port", "5433"), ("dbname", "shop"), ("sslmode", "require")],
            ConnectionUri.Parse("postgresql://a%20b:p%40ss@[::1]:5433/shop?sslmode=require"));
        Assert.Equal([("host", "h")], ConnectionUri.Parse("postgres://h"));
        Assert.Equal("postgresql://u:***@h/d", ConnectionUri.Redact("postgresql://u:secret@h/d"));
    }

    [Fact]
    public async Task add_database_takes_a_uri_a_uri_key_and_a_service_and_refuses_what_libpq_would()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(add_database_takes_a_uri_a_uri_key_and_a_service_and_refuses_what_libpq_would),
            "CREATE TABLE items (id int PRIMARY KEY)", ["public.items"]);
        var s = servers[0];
        await t.Cli.OkAsync("install");
        var uri = $"postgresql://{RestrictedRole.User}@{s.Host}:{s.Port}/{t.Database}?sslmode=disable&application_name=viauri";
        // The password from the environment, as libpq would, so it is not on the command line.
        t.Cli.Environment["PGPASSWORD"] = RestrictedRole.Password;
        var r = await t.Cli.OkAsync("add", "database", "db1", uri);
        Assert.Contains($"Added database db1 ({RestrictedRole.User}@{s.Host}:{s.Port}/{t.Database})", r.Out, StringComparison.Ordinal);
        // A key beside the URI wins over it.
        await t.Cli.OkAsync("add", "database", "db2", $"uri=postgresql://nobody@{s.Host}:{s.Port}/{t.Database}", $"user={RestrictedRole.User}");
        Assert.Matches($@"(?m)^db2\s+{t.Database}\s+{s.Host}\s+{s.Port}\s+{RestrictedRole.User}\s", (await t.Cli.OkAsync("list", "databases")).Out);

        var file = Path.Combine(t.Cli.Home, "services.conf");
        await File.WriteAllTextAsync(file, $"""
            # libpq's format
            [other]
            host=nowhere.invalid

            [shop]
            host={s.Host}
            port={s.Port}
            dbname={t.Database}
            user={RestrictedRole.User}
            password={RestrictedRole.Password}
            """);
        t.Cli.Environment.Remove("PGPASSWORD");
        t.Cli.Environment["PGSERVICEFILE"] = file;
        r = await t.Cli.OkAsync("add", "database", "db3", "service=shop");
        Assert.Contains($"Added database db3 ({RestrictedRole.User}@{s.Host}:{s.Port}/{t.Database})", r.Out, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^db3\s.*\sstored\s*$", (await t.Cli.OkAsync("list", "databases")).Out);

        await t.Cli.RefusesAsync(Refusal.Failure, ["add", "database", "db4", "service=nosuch"], "No service 'nosuch' in " + file);
        await t.Cli.RefusesAsync(Refusal.Usage, ["add", "database", "db4", "postgresql://u:secret@h1:1,h2:2/d"],
            "several hosts", "postgresql://u:***@h1:1,h2:2/d");
        await t.Cli.RefusesAsync(Refusal.Usage, ["add", "database", "db4", "postgresql://h/d?colour=blue"], "Unknown key 'colour' for the URI");
        await t.Cli.RefusesAsync(Refusal.Usage, ["add", "database", "db4", "postgresql://h:notaport/d"], "port must be a number");
        await t.Cli.RefusesAsync(Refusal.Usage, ["add", "database", "db4", "postgresql://h/d", "uri=postgresql://h/e"], "one connection URI");
        await t.Cli.RefusesAsync(Refusal.Usage, ["add", "database", "db4", "postgresql://h"], "Which database?", "service=NAME");
        var secret = await t.Cli.RunAsync("add", "database", "db4", "postgresql://u:secret@h/d?bad");
        Assert.DoesNotContain("secret", secret.All, StringComparison.Ordinal);
    }
}
