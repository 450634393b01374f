using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// Tables whose columns are named like every alias, CTE, temporary column and own column ferry puts in its SQL
/// (a column "t" once stopped every pair: `column reference "t" is ambiguous` in the conflict record), keys among
/// them: every path runs — inserts, updates of keys and values, deletes, a conflict, a unique-key conflict and a
/// foreign-key race — and every database ends the same, by name.
/// </summary>
[Collection("scenario-servers")]
public sealed class CollidingNames(ServerFixture servers)
{
    /// <summary>Key columns: aliases, a PL/pgSQL variable, and names in the capture's own SQL.</summary>
    private static readonly string[] Key = ["t", "found", "captured", "max_entries"];

    /// <summary>The other columns: every alias and name ferry's statements use, ferry_ columns too.</summary>
    private static readonly string[] Values =
    [
        "s", "r", "i", "k", "l", "u", "p", "e", "j", "o", "g", "x", "a", "c", "d", "n", "w", "v", "tr", "seq", "src", "dst",
        "key", "value", "c0", "c1", "excluded", "win", "conflict", "rule_win", "l_version", "l_origin", "moved", "latest",
        "stamped", "updated", "vacated", "orphans", "gone", "evicted", "ferry_version", "ferry_origin", "ferry_based_on",
        "ferry_deleted", "ferry_xid", "ferry_captured", "ferry_v", "ferry_n", "ferry_bytes", "ferry_win",
    ];

    private static readonly string[] KidColumns = ["g", "t", "found", "captured", "max_entries", "i", "win", "ferry_version"];

    private static string Q(string name) => "\"" + name + "\"";

    private static readonly string Schema =
        $"CREATE TABLE t ({Q("t")} int, {Q("found")} text, {Q("captured")} int, {Q("max_entries")} int, " +
        string.Join(", ", Values.Select(v => Q(v) + (v == "j" ? " text UNIQUE" : " text"))) +
        $", PRIMARY KEY ({string.Join(", ", Key.Select(Q))})); " +
        "CREATE TABLE kids (g int PRIMARY KEY, t int, found text, captured int, max_entries int, i text, win text, ferry_version text, " +
        "FOREIGN KEY (t, found, captured, max_entries) REFERENCES t (t, found, captured, max_entries))";

    /// <summary>A row of t: key (n, 'f', n, n), every other column its own name and a tag.</summary>
    private static string Row(int n, string tag) =>
        $"({n}, 'f', {n}, {n}, " + string.Join(", ", Values.Select(v => v == "j" ? $"'j{n}{tag}'" : $"'{v} {tag}'")) + ")";

    [Fact]
    public async Task columns_named_like_ferrys_aliases_and_own_columns_replicate_through_every_path()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(columns_named_like_ferrys_aliases_and_own_columns_replicate_through_every_path),
            Schema, ["public.t", "public.kids"]);
        await t.TwoMastersAndReplicaAsync();
        await t.Cli.OkAsync("start");

        await t.ExecAsync(0, $"INSERT INTO t VALUES {Row(1, "a")}, {Row(2, "a")}, {Row(3, "a")}; " +
                             "INSERT INTO kids VALUES (1, 1, 'f', 1, 1, 'i', 'win', 'fv'), (2, 2, 'f', 2, 2, 'i', 'win', 'fv')");
        await t.ExecAsync(1, $"INSERT INTO t VALUES {Row(4, "b")}, {Row(5, "b")}, {Row(6, "b")}");
        await ConvergedAsync(t);
        await t.ExecAsync(1, "UPDATE t SET s = 'changed', ferry_version = 'mine' WHERE t = 1; UPDATE kids SET win = 'lose' WHERE g = 2");
        await t.ExecAsync(0, "UPDATE t SET t = 30, captured = 30 WHERE t = 3; DELETE FROM kids WHERE g = 2; DELETE FROM t WHERE t = 2");
        await ConvergedAsync(t);

        // With the relay away: a conflict on row 4, two rows taking one unique value, and a child inserted under a
        // parent the other master deletes.
        await t.Cli.OkAsync("stop");
        await t.ExecAsync(0, $"UPDATE t SET s = 'db1 edit' WHERE t = 4; INSERT INTO t VALUES {Row(10, "x")}; UPDATE t SET j = 'same' WHERE t = 10; " +
                             "DELETE FROM t WHERE t = 6");
        await t.ExecAsync(1, $"UPDATE t SET s = 'db2 edit, later', win = 'w' WHERE t = 4; INSERT INTO t VALUES {Row(11, "y")}; " +
                             "UPDATE t SET j = 'same' WHERE t = 11; INSERT INTO kids VALUES (6, 6, 'f', 6, 6, 'orphan', 'win', 'fv')");
        await t.Cli.OkAsync("start");
        await ConvergedAsync(t);

        Assert.Equal("db2 edit, later|w", await t.ScalarAsync<string>(2, "SELECT s || '|' || win FROM t WHERE t = 4"));
        Assert.Equal(1L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM t WHERE j = 'same'"));
        Assert.Equal(0L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM kids WHERE g = 6"));
        // The images keep the user's columns named like ferry's, and only those.
        Assert.Equal("db1 edit|ferry_version b|db2 edit, later|w|ferry_version b|54", await servers[0].ScalarAsync<string>(t.Database,
            "SELECT concat_ws('|', local_row->>'s', local_row->>'ferry_version', incoming_row->>'s', incoming_row->>'win', " +
            "incoming_row->>'ferry_version', (SELECT count(*) FROM jsonb_object_keys(incoming_row))) FROM ferry.conflicts " +
            "WHERE rule = 'latest' AND key->>'t' = '4'", default));
        var compare = await t.Cli.OkAsync("compare", "s");
        Assert.Contains("\"public\".\"t\": the same on db1, db2, db3", compare.Out, StringComparison.Ordinal);
        Assert.Contains("\"public\".\"kids\": the same on db1, db2, db3", compare.Out, StringComparison.Ordinal);
    }

    /// <summary>
    /// Found at the end of stop 15, not yet fixed (it fails the same way on the tree before that stop): after
    /// `TRUNCATE kids, t` on one master, that master's pairs fail on it, over and over, with `update or delete on table
    /// "t" violates foreign key constraint … on table "kids"`, and the truncate never reaches the other databases.
    /// </summary>
    [Fact(Skip = "known bug, open: a TRUNCATE of a parent and its child together stops the pairs reading from that master (23503)")]
    public async Task a_parent_and_its_child_truncated_together_on_one_master_reach_every_database()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_parent_and_its_child_truncated_together_on_one_master_reach_every_database),
            Schema, ["public.t", "public.kids"]);
        await t.TwoMastersAndReplicaAsync();
        await t.Cli.OkAsync("start");
        await t.ExecAsync(0, $"INSERT INTO t VALUES {Row(1, "a")}, {Row(2, "a")}; INSERT INTO kids VALUES (1, 1, 'f', 1, 1, 'i', 'win', 'fv')");
        await ConvergedAsync(t);
        await t.ExecAsync(1, $"TRUNCATE kids, t; INSERT INTO t VALUES {Row(20, "z")}");
        await ConvergedAsync(t);
        Assert.Equal(1L, await t.ScalarAsync<long>(2, "SELECT count(*) FROM t"));
    }

    [Fact]
    public async Task a_key_column_named_like_ferrys_own_columns_is_refused_with_the_reason()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(a_key_column_named_like_ferrys_own_columns_is_refused_with_the_reason),
            "CREATE TABLE odd (ferry_version int PRIMARY KEY, v text)", ["public.odd"]);
        await t.AddDatabasesAsync(1);
        var refused = await t.Cli.RunAsync("add", "table", "odd", "herd=h");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("has a primary-key column \"ferry_version\"; ferry keeps the key's columns beside its own, whose names " +
                        "start with ferry_. Rename the column.", refused.Err, StringComparison.Ordinal);
    }

    private static Task ConvergedAsync(Topology t) =>
        Fingerprint.ConvergedAsync(t, [Fingerprint.ByNameSql("t", [.. Key, .. Values]), Fingerprint.ByNameSql("kids", KidColumns)],
            [0, 1, 2], TimeSpan.FromSeconds(20));
}
