using Ferry.Tests.Harness;
using Npgsql;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// Sequences in a herd, through the CLI and the running relay: carried forward from every source, never back, each
/// database keeping its own interleave, so no master hands out a value another master already used.
/// </summary>
[Collection("scenario-servers")]
public sealed class SequenceReplication(ServerFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task a_replica_sequence_catches_up_with_its_source_and_never_goes_back()
    {
        const string seq = "public.\"order \"\"no\"\"\"";
        await using var t = await Topology.CreateAsync(servers, nameof(a_replica_sequence_catches_up_with_its_source_and_never_goes_back),
            "CREATE TABLE items (id int PRIMARY KEY); CREATE SEQUENCE \"order \"\"no\"\"\"", ["public.items"]);
        foreach (var s in servers.Servers) await RestrictedRole.GrantSequencesAsync(s, t.Database, [seq], default);
        await t.AddDatabasesAsync();
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:target", "db3:target");
        await t.Cli.OkAsync("add", "table", "items", "herd=h");
        await t.Cli.OkAsync("add", "sequence", "\"order \"\"no\"\"\"", "herd=h");
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
        await t.Cli.OkAsync("start");

        // A few steps behind: drawn with nextval() on the targets, up to exactly the next value.
        Assert.Equal([1L, 2, 3, 4, 5], await DrawAsync(t, 0, seq, 5));
        await NextReachesAsync(t, 1, seq, next => next == 6);
        await NextReachesAsync(t, 2, seq, next => next == 6);
        Assert.Equal([6L], await DrawAsync(t, 2, seq, 1));

        // Far behind: one setval() on the targets.
        await servers[0].ExecuteAsync(t.Database, $"SELECT setval('{seq}', 1000000)", default);
        await NextReachesAsync(t, 1, seq, next => next == 1000001);

        // Never back: db2 ahead of the source stays where it is while db3 follows the source again.
        await servers[1].ExecuteAsync(t.Database, $"SELECT setval('{seq}', 5000000)", default);
        Assert.Equal([1000001L], await DrawAsync(t, 0, seq, 1));
        await NextReachesAsync(t, 2, seq, next => next == 1000002);
        Assert.Equal(5000001L, await NextAsync(t, 1, seq));
        Assert.Equal(1000002L, await NextAsync(t, 0, seq)); // one way: nothing moves the source
    }

    [Fact]
    public async Task two_interleaved_masters_keep_their_own_values_and_never_reuse_each_others()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(two_interleaved_masters_keep_their_own_values_and_never_reuse_each_others),
            "CREATE SEQUENCE order_no; CREATE TABLE orders (id bigint PRIMARY KEY DEFAULT nextval('order_no'), origin text NOT NULL)",
            ["public.orders"]);
        // Master 1 of 2 counts 1, 3, 5, …; master 2 counts 2, 4, 6, …; the replica counts by one.
        await servers[0].ExecuteAsync(t.Database, "ALTER SEQUENCE order_no INCREMENT BY 2 RESTART WITH 1", default);
        await servers[1].ExecuteAsync(t.Database, "ALTER SEQUENCE order_no INCREMENT BY 2 RESTART WITH 2", default);
        foreach (var s in servers.Servers) await RestrictedRole.GrantSequencesAsync(s, t.Database, ["order_no"], default);
        await t.AddDatabasesAsync();
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:source", "db3:target");
        await t.Cli.OkAsync("add", "table", "orders", "herd=h");
        await t.Cli.OkAsync("add", "sequence", "order_no", "herd=h");
        var added = await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
        Assert.DoesNotContain("RESTART WITH", added.Out, StringComparison.Ordinal); // interleaved already: no advice
        await t.Cli.OkAsync("start");

        var fromDb1 = await InsertAsync(t, 0, "db1", 5);
        Assert.Equal([1L, 3, 5, 7, 9], fromDb1);
        // db2 is pulled past 9 and stays even; db3 past 9 by one.
        await NextReachesAsync(t, 1, "order_no", next => next == 10);
        await NextReachesAsync(t, 2, "order_no", next => next == 10);
        var fromDb2 = await InsertAsync(t, 1, "db2", 3);
        Assert.Equal([10L, 12, 14], fromDb2);
        await NextReachesAsync(t, 0, "order_no", next => next == 15);

        // Both masters inserting at once, while the relay moves their sequences under them.
        var both = await Task.WhenAll(InsertAsync(t, 0, "db1", 40), InsertAsync(t, 1, "db2", 40));
        fromDb1.AddRange(both[0]);
        fromDb2.AddRange(both[1]);
        Assert.All(fromDb1, id => Assert.Equal(1L, id % 2));
        Assert.All(fromDb2, id => Assert.Equal(0L, id % 2));
        Assert.Empty(fromDb1.Intersect(fromDb2));
        await t.ConvergedAsync("orders", [0, 1, 2]);
        Assert.Equal(fromDb1.Count + fromDb2.Count, await t.ScalarAsync<long>(2, "SELECT count(*) FROM orders"));
        Assert.Contains("No conflicts recorded.", (await t.Cli.OkAsync("conflicts")).Out, StringComparison.Ordinal);

        // Once quiet, every database's next value is beyond every key handed out, each in its own class.
        var highest = fromDb1.Concat(fromDb2).Max();
        await NextReachesAsync(t, 0, "order_no", next => next > highest && next % 2 == 1);
        await NextReachesAsync(t, 1, "order_no", next => next > highest && next % 2 == 0);
        await NextReachesAsync(t, 2, "order_no", next => next > highest);
    }

    [Fact]
    public async Task a_sequence_that_cannot_be_moved_shows_in_status_and_rows_keep_flowing()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_sequence_that_cannot_be_moved_shows_in_status_and_rows_keep_flowing),
            "CREATE TABLE items (id int PRIMARY KEY); CREATE SEQUENCE ticket_no", ["public.items"]);
        foreach (var s in servers.Servers) await RestrictedRole.GrantSequencesAsync(s, t.Database, ["ticket_no"], default);
        await t.AddDatabasesAsync(2);
        await t.Cli.OkAsync("add", "table", "items", "herd=h");
        await t.Cli.OkAsync("add", "sequence", "ticket_no", "herd=h");
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=db1:source,db2:target");
        await servers[1].ExecuteAsync(t.Database, $"REVOKE UPDATE ON SEQUENCE ticket_no FROM {RestrictedRole.User}", default);
        await t.Cli.OkAsync("start");

        await DrawAsync(t, 0, "ticket_no", 3);
        await t.ExecAsync(0, "INSERT INTO items SELECT g FROM generate_series(1, 100) g");
        await t.ConvergedAsync("items", [0, 1]);
        var status = await Eventually.UntilAsync(async () => (await t.Cli.OkAsync("status")).Out,
            o => o.Contains("sequences failing", StringComparison.Ordinal), Deadline, "the pair to report its sequence");
        Assert.Contains("degraded", status, StringComparison.Ordinal);
        Assert.Contains($"GRANT SELECT, UPDATE ON SEQUENCE \"public\".\"ticket_no\" TO \"{RestrictedRole.User}\";", status, StringComparison.Ordinal);
        Assert.Equal(1L, await NextAsync(t, 1, "ticket_no"));

        // The grant is the whole fix: the sequence catches up and the pair is healthy again.
        await servers[1].ExecuteAsync(t.Database, $"GRANT UPDATE ON SEQUENCE ticket_no TO {RestrictedRole.User}", default);
        await NextReachesAsync(t, 1, "ticket_no", next => next == 4);
        await Eventually.UntilAsync(async () => (await t.Cli.OkAsync("status")).Out,
            o => !o.Contains("sequences failing", StringComparison.Ordinal) && o.Contains("Sync s: good", StringComparison.Ordinal),
            Deadline, "the pair to be healthy again");
    }

    /// <summary>Draws <paramref name="count"/> values as the application would.</summary>
    private static async Task<List<long>> DrawAsync(Topology t, int server, string sequence, int count)
    {
        await using var c = await t.AppAsync(server);
        await using var cmd = new NpgsqlCommand("SELECT nextval($1::regclass) FROM generate_series(1, $2)", c);
        cmd.Parameters.AddWithValue(sequence);
        cmd.Parameters.AddWithValue(count);
        return await ReadLongsAsync(cmd);
    }

    /// <summary>Inserts rows one statement each, taking their keys from the sequence's default; returns the keys.</summary>
    private static async Task<List<long>> InsertAsync(Topology t, int server, string origin, int count)
    {
        var ids = new List<long>();
        await using var c = await t.AppAsync(server);
        for (var i = 0; i < count; i++)
        {
            await using var cmd = new NpgsqlCommand("INSERT INTO orders (origin) VALUES ($1) RETURNING id", c);
            cmd.Parameters.AddWithValue(origin);
            ids.Add((long)(await cmd.ExecuteScalarAsync())!);
        }
        return ids;
    }

    /// <summary>What the sequence's next nextval() hands out, read without drawing it (as superuser).</summary>
    private static async Task<long> NextAsync(Topology t, int server, string sequence) =>
        await t.Servers[server].ScalarAsync<long>(t.Database,
            $"SELECT CASE WHEN s.is_called THEN s.last_value + p.seqincrement ELSE s.last_value END FROM {sequence} AS s " +
            "JOIN pg_sequence AS p ON p.seqrelid = s.tableoid", default);

    private static Task NextReachesAsync(Topology t, int server, string sequence, Func<long, bool> accept) =>
        Eventually.UntilAsync(() => NextAsync(t, server, sequence), accept, Deadline,
            $"the next value of {sequence} on {Topology.NodeName(server)}");

    private static async Task<List<long>> ReadLongsAsync(NpgsqlCommand cmd)
    {
        var values = new List<long>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) values.Add(r.GetInt64(0));
        return values;
    }
}
