using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// ApplyRaces for a peer's TRUNCATE: an application's write that commits while ferry applies the truncate, after the
/// apply folded the change log. The truncate's DELETE waits for the written row and then deletes it, though its
/// version (in the log, not yet folded) is newer than the truncate; folded later, that version goes out as the row's
/// absence, and the write is lost everywhere. The chunk must be retried, so the fold takes the write into account and
/// the DELETE spares the row.
/// </summary>
[Collection("scenario-servers")]
public sealed class TruncateRaces(ServerFixture servers)
{
    [Theory]
    [InlineData("trigger")]
    [InlineData("wal")]
    public async Task a_local_write_committing_while_a_truncate_is_applied_is_kept_everywhere(string capture)
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_local_write_committing_while_a_truncate_is_applied_is_kept_everywhere),
            "CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL)", ["public.items"], capture: capture);
        await t.TwoMastersAndReplicaAsync();
        await t.ExecAsync(0, "INSERT INTO items SELECT g, 'start' FROM generate_series(1, 20) g");
        await t.Cli.OkAsync("start");
        await t.ConvergedAsync("items", [0, 1, 2]);
        Assert.Equal(20L, await t.ScalarAsync<long>(1, "SELECT count(*) FROM items"));

        // The cloud's application holds rows 5 and 6 before the office truncates, and writes them after it: its
        // changes are newer than the truncate, in either capture mode's clock (the statement's or the commit's).
        await using var cloud = await t.AppAsync(1);
        await using var tx = await cloud.BeginTransactionAsync();
        var pid = await CloudAsync<int>(cloud, tx, "SELECT pg_backend_pid()");
        await CloudAsync<object>(cloud, tx, "SELECT id FROM items WHERE id IN (5, 6) FOR UPDATE");
        await t.ExecAsync(0, "TRUNCATE items");
        var blocked = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() " +
                      $"AND application_name LIKE 'ferry apply%' AND {pid} = ANY (pg_blocking_pids(pid))";
        await Eventually.UntilAsync(() => servers[1].ScalarAsync<long>(t.Database, blocked, default),
            waiting => waiting > 0, TimeSpan.FromSeconds(30), "the truncate's apply on db2 to wait for the cloud's rows");
        // An update of a held row, a delete of the other, and a key new to the table, all committing while the
        // truncate's DELETE waits.
        await CloudAsync<object>(cloud, tx, "UPDATE items SET v = 'cloud, after the truncate' WHERE id = 5; " +
                                            "DELETE FROM items WHERE id = 6; INSERT INTO items VALUES (100, 'new in the cloud')");
        await tx.CommitAsync();

        // Every other row is gone everywhere, the cloud's two rows stay everywhere, and nothing else comes back.
        const string expected = "(100,\"new in the cloud\")\n(5,\"cloud, after the truncate\")";
        foreach (var server in new[] { 0, 1, 2 })
            await Eventually.UntilAsync(() => t.DumpAsync(server, "items"), dump => dump == expected, TimeSpan.FromSeconds(30),
                $"items on db{server + 1} to hold only the cloud's rows written during the truncate");
        // (Most runs get there by the retry the race check makes; in some, a read's fold has moved the cloud's change
        // into its row version before the truncate's second DELETE looks, and that DELETE spares the row at once.)
        await t.ConvergedAsync("items", [0, 1, 2]);
    }

    private static async Task<T> CloudAsync<T>(Npgsql.NpgsqlConnection cloud, Npgsql.NpgsqlTransaction tx, string sql)
    {
        await using var cmd = new Npgsql.NpgsqlCommand(sql, cloud, tx);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }
}
