using Ferry.ControlStore;
using Ferry.Install;
using Ferry.Local;
using Ferry.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Ferry.Tests.Links;

/// <summary>
/// DESIGN, discontinuities: a source swapped for another database under the same name (dropped, recreated, ferry
/// installed afresh) is not the database the stored progress describes. Its pair stops with an error that says
/// to re-copy, rather than skipping changes or applying the new database's rows as if they followed the old ones;
/// `ferry copy`, as the error says, then takes the target over to the new database.
/// </summary>
[Collection("scenario-servers")]
public sealed class Discontinuity(ServerFixture servers, ITestOutputHelper output)
{
    private const string Schema = "CREATE TABLE items (id int PRIMARY KEY, note text NOT NULL)";

    [Fact]
    public async Task a_source_dropped_and_recreated_stops_its_pair_with_a_call_to_recopy()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_source_dropped_and_recreated_stops_its_pair_with_a_call_to_recopy),
            Schema, ["public.items"]);
        await t.AddDatabasesAsync(new Dictionary<int, FaultProxy>(), count: 2);
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:target");
        await t.Cli.OkAsync("add", "all", "tables", "herd=h");
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, "INSERT INTO items SELECT g, 'original ' || g FROM generate_series(1, 100) g");
        await t.ConvergedAsync("items", [0, 1]);
        var before = await t.DumpAsync(1, "items");

        // The replacement: same server, same name, same table, a fresh ferry install, different rows.
        var s = servers[0];
        await s.ExecuteAsync("postgres", $"DROP DATABASE {LocalServer.QuoteIdentifier(t.Database)} WITH (FORCE)", default);
        Npgsql.NpgsqlConnection.ClearAllPools(); // the pooled connections to the old database died with it
        await s.CreateDatabaseAsync(t.Database, RestrictedRole.Owner, default);
        await RestrictedRole.GrantDatabaseAsync(s, t.Database, default);
        await s.ExecuteAsync(t.Database, $"SET ROLE {RestrictedRole.Owner}; {Schema}; RESET ROLE;", default);
        await RestrictedRole.GrantTablesAsync(s, t.Database, ["public.items"], default);
        using (var store = await Store.OpenAsync(Path.Combine(t.Cli.Home, "ferry.db"), default))
            await SyncInstaller.InstallAsync([await store.GetDatabaseAsync("db1", default)], await store.GetHerdAsync("h", default), Ferry.Postgres.LinkRetry.None, default);
        await t.ExecAsync(0, "INSERT INTO items SELECT g, 'replacement ' || g FROM generate_series(50, 150) g");
        await t.Cli.OkAsync("kick", "s");

        // Stopped, saying why and what to do; and still refusing on the next attempt.
        var status = await Eventually.UntilAsync(() => t.Cli.OkAsync("status"),
            r => Line(r.Out, "db1 -> db2") is { } l && l.Contains("stopped", StringComparison.Ordinal)
                 && l.Contains("re-copy", StringComparison.OrdinalIgnoreCase),
            TimeSpan.FromSeconds(30), "the pair to stop with a call to re-copy");
        output.WriteLine(status.Out);
        await Eventually.UntilAsync(() => Task.FromResult(t.LogLines("Re-copy").Count),
            n => n >= 2, TimeSpan.FromSeconds(30), "the pair to refuse again on its next attempt");
        Assert.Contains("not the database this pair was replicating from", Line(status.Out, "db1 -> db2"));
        Assert.Contains("(the relay may keep running): ferry copy s to=db2 from=db1.", Line(status.Out, "db1 -> db2"));

        // Nothing of the replacement reached the target, and nothing of the original was lost there.
        Assert.Equal(before, await t.DumpAsync(1, "items"));

        // What it asks for, the relay still running, takes the target over to the replacement, which it then follows.
        await t.Cli.OkAsync("copy", "s", "to=db2", "from=db1");
        await t.ExecAsync(0, "UPDATE items SET note = 'after the copy' WHERE id = 150");
        await t.ConvergedAsync("items", [0, 1]);
        Assert.Equal(101L, await t.ScalarAsync<long>(1, "SELECT count(*) FROM items"));
    }

    private static string? Line(string text, string startsWith) =>
        text.Split('\n').FirstOrDefault(l => l.StartsWith(startsWith, StringComparison.Ordinal));
}
