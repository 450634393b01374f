using Ferry.Tests.Harness;
using Npgsql;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// `onetimecopy=` on add sync: targets are filled from the first source in one snapshot that becomes their pair's
/// position, so that what was there before is copied once and what comes after is replicated: every database ends
/// up with the same rows, with nothing missed and nothing older written over newer.
/// </summary>
[Collection("scenario-servers")]
public sealed class OneTimeCopies(ServerFixture servers)
{
    private const string Schema = """
        CREATE TABLE parents (id int PRIMARY KEY, name text NOT NULL);
        CREATE TABLE children (id int PRIMARY KEY, parent int NOT NULL REFERENCES parents (id), note text)
        """;

    private static readonly string[] Tables = ["public.parents", "public.children"];

    [Fact]
    public async Task onetimecopy_1_replaces_the_targets_rows_and_replication_goes_on_from_its_snapshot()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(onetimecopy_1_replaces_the_targets_rows_and_replication_goes_on_from_its_snapshot),
            Schema, Tables);
        await t.AddDatabasesAsync();
        // The source's rows predate ferry; db3 holds stale rows of its own, which a replacing copy removes.
        await t.ExecAsync(0, """
            INSERT INTO parents SELECT g, 'parent ' || g FROM generate_series(1, 200) AS g;
            INSERT INTO children SELECT g, 1 + g % 200, 'child ' || g FROM generate_series(1, 600) AS g
            """);
        await t.ExecAsync(2, "INSERT INTO parents VALUES (1, 'stale'), (999, 'gone'); INSERT INTO children VALUES (1, 999, 'stale')");

        // The application keeps writing while the copy runs: each write is either in the copy or after its snapshot.
        // Small writes and bulk ones (more than 1,000 rows write their row versions at once, not through the log:
        // a position later than the copy's snapshot would skip those).
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            await using var app = await t.AppAsync(0);
            var n = 0;
            for (var from = 10_000; (!stop.IsCancellationRequested || n < 5) && n < 200; from += 1_100, n++)
            {
                await using var cmd = new Npgsql.NpgsqlCommand(
                    $"INSERT INTO parents SELECT g, 'during' FROM generate_series({from}, {from + 1_099}) AS g; " +
                    $"UPDATE parents SET name = 'touched {from}' WHERE id = {1 + n % 200}", app);
                await cmd.ExecuteNonQueryAsync();
            }
            return n;
        });
        var added = await t.Cli.OkAsync("add", "sync", "s", "tables=parents,children", "dbs=db1:source,db2:target,db3:target", "onetimecopy=1");
        await stop.CancelAsync();
        Assert.True(await writer >= 5);
        Assert.Contains("db2: \"public\".\"parents\" copied from db1, ", added.Out, StringComparison.Ordinal);
        Assert.Contains("db3: \"public\".\"children\" copied from db1, 600 rows.", added.Out, StringComparison.Ordinal);

        // Changes after the copy flow from its position.
        await t.ExecAsync(0, "UPDATE parents SET name = 'renamed' WHERE id = 5; DELETE FROM children WHERE id = 10; " +
                             "INSERT INTO parents VALUES (201, 'new'); INSERT INTO children VALUES (601, 201, 'new')");
        await t.Cli.OkAsync("debug", "run-once", "s", "db1", "db2");
        await t.Cli.OkAsync("debug", "run-once", "s", "db1", "db3");
        await SameAsSourceAsync(t, 1, 2);
        Assert.Equal(0, (await t.Cli.RunAsync("compare", "s")).ExitCode);
    }

    [Fact]
    public async Task onetimecopy_2_fills_empty_tables_of_a_replica_of_two_masters_which_then_converges()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(onetimecopy_2_fills_empty_tables_of_a_replica_of_two_masters_which_then_converges),
            Schema, Tables);
        await t.AddDatabasesAsync();
        // Both masters already hold the same rows; the replica is empty.
        foreach (var master in new[] { 0, 1 })
            await t.ExecAsync(master, """
                INSERT INTO parents SELECT g, 'parent ' || g FROM generate_series(1, 50) AS g;
                INSERT INTO children SELECT g, 1 + g % 50, 'child ' || g FROM generate_series(1, 100) AS g
                """);
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:source", "db3:target");
        await t.Cli.OkAsync("add", "all", "tables", "herd=h");
        var added = await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g", "onetimecopy=2");
        Assert.Contains("db3: \"public\".\"children\" copied from db1, 100 rows.", added.Out, StringComparison.Ordinal);

        // The masters change the same rows at once; the replica keeps the versions copied with the rows and decides
        // both masters' changes against them, as the masters do.
        await t.ExecAsync(0, "UPDATE parents SET name = 'db1 edit' WHERE id IN (1, 2); INSERT INTO parents VALUES (51, 'from db1')");
        await t.ExecAsync(1, "UPDATE parents SET name = 'db2 edit' WHERE id IN (2, 3); DELETE FROM children WHERE id = 7");
        foreach (var (from, to) in new[] { ("db1", "db2"), ("db2", "db1"), ("db1", "db3"), ("db2", "db3") })
            await t.Cli.OkAsync("debug", "run-once", "s", from, to);
        await SameAsSourceAsync(t, 1, 2);
        Assert.Equal(0, (await t.Cli.RunAsync("compare", "s")).ExitCode);

        // A second add with onetimecopy=2 over tables that now have rows keeps them.
        await t.Cli.OkAsync("remove", "sync", "s");
        var again = await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g", "onetimecopy=2");
        Assert.Contains("db3: \"public\".\"parents\" kept as it is", again.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ferry_copy_re_copies_a_replica_of_two_masters_and_the_other_masters_pair_delivers_again()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(ferry_copy_re_copies_a_replica_of_two_masters_and_the_other_masters_pair_delivers_again),
            Schema, Tables);
        await t.AddDatabasesAsync();
        await t.Cli.OkAsync("add", "sync", "s", "tables=parents,children", "dbs=db1:source,db2:source,db3:target");
        await t.ExecAsync(0, "INSERT INTO parents SELECT g, 'parent ' || g FROM generate_series(1, 20) AS g");
        foreach (var (from, to) in new[] { ("db1", "db2"), ("db1", "db3") })
            await t.Cli.OkAsync("debug", "run-once", "s", from, to);

        // db2's edits reach the replica but not db1 yet; then the replica is re-copied from db1, which lacks them.
        await t.ExecAsync(1, "UPDATE parents SET name = 'db2 edit' WHERE id = 3; INSERT INTO parents VALUES (21, 'db2 new'); " +
                             "DELETE FROM parents WHERE id = 4");
        await t.Cli.OkAsync("debug", "run-once", "s", "db2", "db3");
        await t.ExecAsync(2, "UPDATE parents SET name = 'behind ferry''s back' WHERE id = 9");
        Assert.Contains("is a source of sync s", (await t.Cli.RunAsync("copy", "s", "to=db2")).Err, StringComparison.Ordinal);
        Assert.Equal(2, (await t.Cli.RunAsync("copy", "s", "to=db3", "from=db3")).ExitCode);
        var copied = await t.Cli.OkAsync("copy", "s", "to=db3");
        Assert.Contains("db3: \"public\".\"parents\" copied from db1, 20 rows.", copied.Out, StringComparison.Ordinal);
        Assert.Contains("and from db2 from the beginning", copied.Out, StringComparison.Ordinal);
        Assert.Equal("parent 3", await t.ScalarAsync<string>(2, "SELECT name FROM parents WHERE id = 3"));

        // db2's pair into the replica starts over and delivers its edits again: kept as delivered, they would be
        // lost there for good (db1 does not forward db2's changes to the replica of the same sync).
        foreach (var (from, to) in new[] { ("db2", "db3"), ("db1", "db3"), ("db2", "db1"), ("db1", "db2") })
            await t.Cli.OkAsync("debug", "run-once", "s", from, to);
        Assert.Equal("db2 edit", await t.ScalarAsync<string>(2, "SELECT name FROM parents WHERE id = 3"));
        Assert.Equal("parent 9", await t.ScalarAsync<string>(2, "SELECT name FROM parents WHERE id = 9"));
        await SameAsSourceAsync(t, 1, 2);
        Assert.Equal(0, (await t.Cli.RunAsync("compare", "s")).ExitCode);
    }

    /// <summary>
    /// `ferry copy tables=`: one table of a replica re-copied (rows changed behind ferry's back) while a change to the
    /// sync's other table waits on the source. The pairs keep their positions, so the waiting change still arrives.
    /// </summary>
    [Fact]
    public async Task ferry_copy_of_some_tables_keeps_the_pairs_positions_and_the_others_changes_arrive()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(ferry_copy_of_some_tables_keeps_the_pairs_positions_and_the_others_changes_arrive),
            Schema, Tables);
        await t.AddDatabasesAsync();
        await t.Cli.OkAsync("add", "sync", "s", "tables=parents,children", "dbs=db1:source,db2:source,db3:target");
        await t.ExecAsync(0, "INSERT INTO parents SELECT g, 'parent ' || g FROM generate_series(1, 20) AS g; " +
                             "INSERT INTO children SELECT g, 1 + g % 20, 'child ' || g FROM generate_series(1, 40) AS g");
        foreach (var (from, to) in new[] { ("db1", "db2"), ("db1", "db3"), ("db2", "db3") })
            await t.Cli.OkAsync("debug", "run-once", "s", from, to);

        await t.ExecAsync(2, "UPDATE children SET note = 'behind ferry''s back' WHERE id = 5; DELETE FROM children WHERE id = 6");
        await t.ExecAsync(0, "UPDATE parents SET name = 'waiting' WHERE id = 2");
        Assert.Equal(2, (await t.Cli.RunAsync("copy", "s", "to=db3", "tables=nosuch")).ExitCode);
        var copied = await t.Cli.OkAsync("copy", "s", "to=db3", "tables=children");
        Assert.Contains("db3: \"public\".\"children\" copied from db1, 40 rows.", copied.Out, StringComparison.Ordinal);
        Assert.Contains("from where it was", copied.Out, StringComparison.Ordinal);
        Assert.Equal("child 5", await t.ScalarAsync<string>(2, "SELECT note FROM children WHERE id = 5"));
        Assert.Equal(1L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM children WHERE id = 6"));
        Assert.Equal("parent 2", await t.ScalarAsync<string>(2, "SELECT name FROM parents WHERE id = 2"));

        foreach (var (from, to) in new[] { ("db1", "db3"), ("db2", "db3"), ("db1", "db2"), ("db2", "db1") })
            await t.Cli.OkAsync("debug", "run-once", "s", from, to);
        Assert.Equal("waiting", await t.ScalarAsync<string>(2, "SELECT name FROM parents WHERE id = 2"));
        await SameAsSourceAsync(t, 1, 2);
        Assert.Equal(0, (await t.Cli.RunAsync("compare", "s")).ExitCode);
    }

    /// <summary>
    /// A replica re-copied while the relay runs and both masters write: its sync's pairs into it wait while the copy
    /// is unfinished (they must not write into tables being refilled, nor save their old positions over the copy's),
    /// then read their new positions; the other pairs never stop. Everything converges.
    /// </summary>
    [Fact]
    public async Task ferry_copy_runs_beside_the_relay_while_both_masters_write_and_all_three_converge()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(ferry_copy_runs_beside_the_relay_while_both_masters_write_and_all_three_converge),
            Schema, Tables);
        await t.AddDatabasesAsync();
        await t.Cli.OkAsync("add", "sync", "s", "tables=parents,children", "dbs=db1:source,db2:source,db3:target");
        t.Cli.Environment["FERRY_COPY_SLICE_ROWS"] = "500";
        // Pairs waiting for the copy would retry only after this long: the copy's kick must end their wait.
        t.Cli.Environment["FERRY_MAX_BACKOFF_SECONDS"] = "600";
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, """
            INSERT INTO parents SELECT g, 'parent ' || g FROM generate_series(1, 2000) AS g;
            INSERT INTO children SELECT g, 1 + g % 2000, 'child ' || g FROM generate_series(1, 30000) AS g
            """);
        await t.ConvergedAsync("children", [0, 1, 2], TimeSpan.FromSeconds(90));

        using var writing = new CancellationTokenSource();
        async Task WriteAsync(int server)
        {
            for (var n = 1; n <= 2000 && !writing.IsCancellationRequested; n++)
                await t.ExecAsync(server, server == 0
                    ? $"UPDATE children SET note = 'db1 edit {n}' WHERE id = {n * 7 % 30000 + 1}; DELETE FROM children WHERE id = {n * 13 % 30000 + 1}"
                    : $"UPDATE parents SET name = 'db2 edit {n}' WHERE id = {n % 2000 + 1}; INSERT INTO children VALUES ({100000 + n}, {n % 2000 + 1}, 'db2 new')");
        }
        var writers = new[] { WriteAsync(0), WriteAsync(1) };
        var copied = await t.Cli.OkAsync("copy", "s", "to=db3");
        await writing.CancelAsync();
        await Task.WhenAll(writers);
        Assert.Contains("db3: \"public\".\"children\" copied from db1", copied.Out, StringComparison.Ordinal);
        Assert.Contains("The relay's pairs into db3 go on from the copy now.", copied.Out, StringComparison.Ordinal);

        await t.ConvergedAsync("parents", [0, 1, 2], TimeSpan.FromSeconds(90));
        await t.ConvergedAsync("children", [0, 1, 2], TimeSpan.FromSeconds(90));
        Assert.Equal(0, (await t.Cli.RunAsync("compare", "s")).ExitCode);
    }

    [Fact]
    public async Task a_copy_killed_part_way_resumes_after_its_last_slice_and_misses_nothing()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_copy_killed_part_way_resumes_after_its_last_slice_and_misses_nothing),
            Schema, Tables);
        await TwoThousandParentsAsync(t);

        // Killed while it copies the children, some of their slices committed.
        await KillPartWayThroughChildrenAsync(t, AddWithCopy);
        var partial = await t.ScalarAsync<long>(1, "SELECT count(*) FROM children");
        Assert.InRange(partial, 1, 29_999);
        var status = (await t.Cli.OkAsync("status")).Out;
        Assert.Contains("Unfinished copies", status, StringComparison.Ordinal);
        Assert.Contains("sync s was not added: run the same ferry add sync again", status, StringComparison.Ordinal);

        // Meanwhile the application writes: a new parent with a child in the part not copied yet, and changes to rows
        // copied already and not yet.
        await t.ExecAsync(0, """
            INSERT INTO parents VALUES (5001, 'new parent'); INSERT INTO children VALUES (40001, 5001, 'new child');
            UPDATE children SET note = 'changed after its copy' WHERE id = 5; DELETE FROM children WHERE id = 7;
            DELETE FROM children WHERE id = 29990; UPDATE parents SET name = 'renamed' WHERE id = 3
            """);
        var resumed = await t.Cli.OkAsync(AddWithCopy);
        Assert.Contains("db2: resuming the copy from db1 at \"public\".\"children\".", resumed.Out, StringComparison.Ordinal);
        Assert.Contains("db2: 1 rows of \"public\".\"children\" name parents copied before they were written: the pair brings them.", resumed.Out, StringComparison.Ordinal);
        Assert.Contains("db2: \"public\".\"parents\" copied from db1, 2000 rows.", resumed.Out, StringComparison.Ordinal);
        Assert.Equal("", await servers[1].ScalarAsync<string>(t.Database, Cursor, default));
        Assert.DoesNotContain("Unfinished copies", (await t.Cli.OkAsync("status")).Out, StringComparison.Ordinal);

        // The pair goes on from the first attempt's snapshot: everything written since comes, the held-back child too.
        await t.Cli.OkAsync("debug", "run-once", "s", "db1", "db2");
        await SameAsSourceAsync(t, 1);
        Assert.Equal(0, (await t.Cli.RunAsync("compare", "s")).ExitCode);
    }

    [Fact]
    public async Task a_copy_whose_target_changed_while_it_was_interrupted_starts_over_rather_than_resume()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_copy_whose_target_changed_while_it_was_interrupted_starts_over_rather_than_resume),
            Schema, Tables);
        await TwoThousandParentsAsync(t);
        await KillPartWayThroughChildrenAsync(t, AddWithCopy);

        // Someone "cleans up" the half-filled target: the cursor no longer describes it, and resuming would leave
        // these rows missing for good (they changed before the position, so the pair would not bring them).
        await servers[1].ExecuteAsync(t.Database, "DELETE FROM children WHERE id <= 50", default);
        var again = await t.Cli.OkAsync(AddWithCopy);
        Assert.Contains("db2 changed since its copy from db1 was interrupted (\"public\".\"children\" holds ", again.Out,
            StringComparison.Ordinal);
        Assert.Contains("the copy starts over.", again.Out, StringComparison.Ordinal);
        await SameAsSourceAsync(t, 1);
    }

    [Fact]
    public async Task a_relay_started_over_an_unfinished_copy_holds_that_targets_pairs_until_the_copy_is_finished()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_relay_started_over_an_unfinished_copy_holds_that_targets_pairs_until_the_copy_is_finished),
            Schema, Tables);
        await TwoThousandParentsAsync(t);
        await t.Cli.OkAsync(AddWithCopy);
        await KillPartWayThroughChildrenAsync(t, ["copy", "s", "to=db2"], async () =>
        {
            // While it runs (held on the children's table, so that it cannot finish meanwhile), status shows it
            // running, and a second copy into the same target is refused.
            await using var hold = new NpgsqlConnection(servers[1].AdminConnectionString(t.Database));
            await hold.OpenAsync();
            await using var held = await hold.BeginTransactionAsync();
            await using (var lockTable = new NpgsqlCommand("LOCK TABLE children IN ACCESS EXCLUSIVE MODE", hold, held))
                await lockTable.ExecuteNonQueryAsync();
            Assert.Contains("copying (pid ", (await t.Cli.OkAsync("status")).Out, StringComparison.Ordinal);
            var second = await t.Cli.RunAsync("copy", "s", "to=db2");
            Assert.Equal(1, second.ExitCode);
            Assert.Contains("A copy for sync s into db2 is already running (pid ", second.Err, StringComparison.Ordinal);
        });
        var partial = await t.ScalarAsync<long>(1, "SELECT count(*) FROM children");
        // Before anything meets it, status names the copy and the way to finish it.
        var status = (await t.Cli.OkAsync("status")).Out;
        Assert.Contains("Unfinished copies", status, StringComparison.Ordinal);
        Assert.Contains("the copy's process ended before it finished", status, StringComparison.Ordinal);
        Assert.Contains("ferry copy s to=db2 from=db1", status, StringComparison.Ordinal);

        // Replicating into the half-filled tables from the old position would leave the rest missing: the pair waits.
        await t.ExecAsync(0, "UPDATE children SET note = 'while the copy was unfinished' WHERE id = 29999");
        await t.Cli.OkAsync("start");
        await Eventually.UntilAsync(async () => (await t.Cli.RunAsync("status")).Out,
            o => o.Contains("holds an unfinished copy for sync s from db1", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "the pair into db2 to stop on the unfinished copy");
        Assert.Contains("db1 -> db2  waiting for the copy from db1", (await t.Cli.RunAsync("status")).Out, StringComparison.Ordinal);
        Assert.Contains("the relay may keep running): ferry copy s to=db2 from=db1.", (await t.Cli.RunAsync("status")).Out, StringComparison.Ordinal);
        Assert.Equal(partial, await t.ScalarAsync<long>(1, "SELECT count(*) FROM children"));

        // As it says, with the relay running: the copy resumes, and replication goes on from it.
        Assert.Contains("db2: resuming the copy from db1", (await t.Cli.OkAsync("copy", "s", "to=db2")).Out, StringComparison.Ordinal);
        Assert.DoesNotContain("Unfinished copies", (await t.Cli.OkAsync("status")).Out, StringComparison.Ordinal);
        await t.ExecAsync(0, "DELETE FROM children WHERE id = 1");
        await t.ConvergedAsync("children", [0, 1]);
        await t.ConvergedAsync("parents", [0, 1]);
    }

    [Fact]
    public async Task removing_the_sync_forgets_its_unfinished_copy_and_a_sync_added_again_copies_afresh()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(removing_the_sync_forgets_its_unfinished_copy_and_a_sync_added_again_copies_afresh),
            Schema, Tables);
        await TwoThousandParentsAsync(t);
        await t.Cli.OkAsync(AddWithCopy);
        await KillPartWayThroughChildrenAsync(t, ["copy", "s", "to=db2"]);

        await t.Cli.OkAsync("remove", "sync", "s");
        Assert.Equal("", await servers[1].ScalarAsync<string>(t.Database, Cursor, default));
        Assert.DoesNotContain("Unfinished copies", (await t.Cli.OkAsync("status")).Out, StringComparison.Ordinal);
        var again = await t.Cli.OkAsync("add", "sync", "s", "herd=s", "dbs=s", "onetimecopy=1");
        Assert.DoesNotContain("resuming", again.Out, StringComparison.Ordinal);
        await SameAsSourceAsync(t, 1);
    }

    /// <summary>Both tables on each of <paramref name="targets"/> hold exactly what db1 holds.</summary>
    private static async Task SameAsSourceAsync(Topology t, params int[] targets)
    {
        foreach (var table in new[] { "parents", "children" })
            foreach (var target in targets)
                Assert.Equal(await t.DumpAsync(0, table), await t.DumpAsync(target, table));
    }

    private static readonly string[] AddWithCopy = ["add", "sync", "s", "tables=parents,children", "dbs=db1:source,db2:target", "onetimecopy=1"];

    /// <summary>Two databases; the source holds 2,000 parents and 30,000 children, which copies take in slices of 100 rows.</summary>
    private static async Task TwoThousandParentsAsync(Topology t)
    {
        await t.AddDatabasesAsync(2);
        await t.ExecAsync(0, """
            INSERT INTO parents SELECT g, 'parent ' || g FROM generate_series(1, 2000) AS g;
            INSERT INTO children SELECT g, 1 + g % 2000, 'child ' || g FROM generate_series(1, 30000) AS g
            """);
        t.Cli.Environment["FERRY_COPY_SLICE_ROWS"] = "100";
    }

    private const string Cursor = "SELECT coalesce((SELECT value FROM ferry.meta WHERE key = 'copy s from db1'), '')";

    /// <summary>
    /// Starts the command and kills it once its cursor is part-way through the children (the second table), after
    /// <paramref name="whileRunning"/>, if given.
    /// </summary>
    private async Task KillPartWayThroughChildrenAsync(Topology t, string[] command, Func<Task>? whileRunning = null)
    {
        using var copy = t.Cli.Start(command);
        await Eventually.UntilAsync(async () => await servers[1].ScalarAsync<string>(t.Database, Cursor, default) ?? "",
            v => v.Contains("\"Table\":1", StringComparison.Ordinal) && !v.Contains("\"After\":null", StringComparison.Ordinal),
            TimeSpan.FromSeconds(60), "the copy to be part-way through the children");
        if (whileRunning is not null) await whileRunning();
        copy.Kill(entireProcessTree: true);
        await copy.WaitForExitAsync();
    }
}
