using System.Diagnostics;
using Ferry.Local;
using Npgsql;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry demo`: three throwaway PostgreSQL servers — an office master, a cloud master and a read replica — set up
/// with the very commands a user types, as a role with plain grants; writes on both masters at once, a conflict
/// made on purpose while the relay is stopped, and live convergence. Everything is removed at the end.
/// </summary>
public static class DemoCommand
{
    private const string Role = "ferry_repl";
    private const string Password = "demo-secret";

    private const string Schema = """
        CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text, city text);
        CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL REFERENCES customers (id),
                             total numeric(12, 2) NOT NULL, placed_at timestamptz NOT NULL DEFAULT now());
        """;

    public static async Task<int> RunAsync(BucardoArguments args, CancellationToken ct)
    {
        args.RejectUnknown("demo");
        var home = Path.Combine(Path.GetTempPath(), "ferry-demo-" + Guid.NewGuid().ToString("N")[..8]);
        // 0700 whatever the umask: ferry refuses a home others can write.
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(home);
        else Directory.CreateDirectory(home, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var servers = new List<LocalServer>();
        try
        {
            Step("Starting three throwaway PostgreSQL servers on 127.0.0.1 (office, cloud, replica)");
            servers.AddRange(await Task.WhenAll(new[] { "office", "cloud", "replica" }.Select(n => LocalServer.StartAsync(n, ct))));
            foreach (var s in servers)
            {
                await PrepareAsync(s, ct);
                Output.Line($"  {s.Name,-8} port {s.Port}, database shop, replication role {Role} (no superuser, plain grants)");
            }

            Step("Configuring ferry with Bucardo's commands");
            var ferry = new Runner(home);
            await ferry.RunAsync("install");
            foreach (var s in servers)
                await ferry.RunAsync("add", "database", s.Name, "dbname=shop", $"host={s.Host}", $"port={s.Port}", $"user={Role}", $"pass={Password}");
            await ferry.RunAsync("add", "dbgroup", "shop", "office:source", "cloud:source", "replica:target");
            await ferry.RunAsync("add", "all", "tables", "herd=shop");
            await ferry.RunAsync("add", "sync", "shop", "herd=shop", "dbs=shop");
            await ferry.RunAsync("start");

            Step("Writing on both masters at once: the office gets odd ids, the cloud even ids");
            await Task.WhenAll(WriteAsync(servers[0], 1, ct), WriteAsync(servers[1], 2, ct));
            await ShowConvergenceAsync(servers, ferry, ct);

            Step("A conflict: the relay stops (a firewall cut, say) and both masters edit customer 1");
            await ferry.RunAsync("stop");
            await ExecAsync(servers[0], "UPDATE customers SET city = 'Shanghai (office edit)' WHERE id = 1", ct);
            await ExecAsync(servers[1], "UPDATE customers SET city = 'Frankfurt (cloud edit, later)' WHERE id = 1", ct);
            foreach (var s in servers)
                Output.Line($"  {s.Name,-8} customer 1 lives in: {await ScalarAsync(s, "SELECT city FROM customers WHERE id = 1", ct)}");
            await ferry.RunAsync("start");
            await ShowConvergenceAsync(servers, ferry, ct);
            foreach (var s in servers)
                Output.Line($"  {s.Name,-8} customer 1 lives in: {await ScalarAsync(s, "SELECT city FROM customers WHERE id = 1", ct)}");
            Output.Line("  The later edit won everywhere (conflict_strategy=latest); each master recorded the conflict:");
            await ferry.RunAsync("conflicts");

            Step("Checking: every table compared row by row on the three databases");
            await ferry.RunAsync("compare", "shop");

            Step("Status");
            await ferry.RunAsync("status");
            await ferry.RunAsync("stop");
            Step("Done: stopping and removing the servers");
            return 0;
        }
        finally
        {
            await new Runner(home).RunAsync("stop", quiet: true);
            foreach (var s in servers) await s.DisposeAsync();
            try { Directory.Delete(home, true); } catch (IOException) { }
        }
    }

    private static void Step(string text)
    {
        Output.Line();
        Output.Line("== " + text);
    }

    private static async Task PrepareAsync(LocalServer s, CancellationToken ct)
    {
        await s.ExecuteAsync("postgres", $"""
            CREATE ROLE {Role} LOGIN PASSWORD '{Password}' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
            CREATE ROLE shop_owner NOLOGIN;
            """, ct);
        await s.CreateDatabaseAsync("shop", "shop_owner", ct);
        await s.ExecuteAsync("shop", $"""
            SET ROLE shop_owner;
            {Schema}
            RESET ROLE;
            GRANT CONNECT, CREATE ON DATABASE shop TO {Role};
            GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER ON customers, orders TO {Role};
            """, ct);
    }

    private static async Task WriteAsync(LocalServer s, int offset, CancellationToken ct)
    {
        for (var i = 0; i < 20; i++)
        {
            var id = i * 2 + offset;
            await ExecAsync(s, $"INSERT INTO customers VALUES ({id}, 'customer {id}', 'c{id}@example.com', '{s.Name}')", ct);
            await ExecAsync(s, $"INSERT INTO orders (id, customer_id, total) VALUES ({id}, {id}, {id * 10}.50)", ct);
        }
    }

    private static async Task ShowConvergenceAsync(IReadOnlyList<LocalServer> servers, Runner ferry, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        string Line(IEnumerable<string> counts) => string.Join("   ", servers.Zip(counts, (s, c) => $"{s.Name}: {c}"));
        string last = "";
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            var states = new List<string>();
            foreach (var s in servers)
                states.Add(await ScalarAsync(s, "SELECT (SELECT count(*) FROM customers) || ' customers, ' || " +
                                               "(SELECT count(*) FROM orders) || ' orders, checksum ' || " +
                                               "(SELECT left(md5(string_agg(c::text, ',' ORDER BY id)), 6) FROM customers c)", ct));
            var line = Line(states);
            if (line != last) Output.Line($"  {clock.Elapsed.TotalSeconds,5:F2}s  {line}");
            last = line;
            if (states.Distinct().Count() == 1)
            {
                Output.Line($"  converged after {clock.Elapsed.TotalMilliseconds:F0} ms");
                return;
            }
            await Task.Delay(50, ct);
        }
        await ferry.RunAsync("status");
        throw new FerryException("The demo did not converge within 60 s; see ferry status above.");
    }

    private static async Task ExecAsync(LocalServer s, string sql, CancellationToken ct) => await s.ExecuteAsync("shop", sql, ct);

    private static async Task<string> ScalarAsync(LocalServer s, string sql, CancellationToken ct) =>
        (await s.ScalarAsync<object>("shop", sql, ct))?.ToString() ?? "";

    /// <summary>Runs ferry's own verbs as a separate process, echoing each command the way a user would type it.</summary>
    private sealed class Runner(string home)
    {
        public async Task RunAsync(params string[] args) => await RunAsync(args, quiet: false);

        public async Task RunAsync(string verb, bool quiet) => await RunAsync([verb], quiet);

        private async Task RunAsync(string[] args, bool quiet)
        {
            if (!quiet) Output.Line("$ ferry " + string.Join(' ', args.Select(a => a.StartsWith("pass=", StringComparison.Ordinal) ? "pass=****" : a)));
            var entry = Environment.GetCommandLineArgs()[0];
            var psi = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            if (entry.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)) psi.ArgumentList.Add(entry);
            foreach (var a in args) psi.ArgumentList.Add(a);
            psi.Environment["FERRY_HOME"] = home;
            psi.Environment["FERRY_POLL_SECONDS"] = "0.5";
            using var p = Process.Start(psi)!;
            var output = await p.StandardOutput.ReadToEndAsync();
            var error = await p.StandardError.ReadToEndAsync();
            await p.WaitForExitAsync();
            if (!quiet)
            {
                foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries)) Output.Line("  " + line);
                foreach (var line in error.Split('\n', StringSplitOptions.RemoveEmptyEntries)) Output.Line("  " + line);
            }
            if (p.ExitCode != 0 && !quiet) throw new FerryException($"ferry {args[0]} failed (exit {p.ExitCode}).");
        }
    }
}
