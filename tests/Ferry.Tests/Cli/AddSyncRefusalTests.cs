using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Cli;

/// <summary>
/// `ferry add sync` checks every database before it touches any: a refused sync leaves the control store as it was
/// and no schema ferry and no capture trigger in any database.
/// </summary>
[Collection("servers")]
public sealed class AddSyncRefusalTests(ServerFixture servers)
{
    private const string Schema = """
        CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty numeric(12,2));
        CREATE TABLE notes (body text)
        """;

    /// <summary>Three databases in dbgroup g (db1 source), herd h = items; then each test breaks one thing.</summary>
    private async Task<Topology> ReadyAsync(string test)
    {
        var t = await Topology.CreateAsync(servers, test, Schema, ["public.items", "public.notes"]);
        await t.AddDatabasesAsync();
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:target", "db3:target");
        await t.Cli.OkAsync("add", "table", "items", "herd=h");
        return t;
    }

    private async Task RefusedAndUntouchedAsync(Topology t, int exit, string[] args, params string[] says)
    {
        await t.Cli.RefusesAsync(exit, args, says);
        await Refusal.AssertNoFerryObjectsAsync(servers, t.Database);
    }

    [Fact]
    public async Task a_column_missing_on_a_target_is_named_with_its_database_and_table()
    {
        await using var t = await ReadyAsync(nameof(a_column_missing_on_a_target_is_named_with_its_database_and_table));
        await servers[2].ExecuteAsync(t.Database, "ALTER TABLE items DROP COLUMN qty", default);
        await RefusedAndUntouchedAsync(t, Refusal.Failure, ["add", "sync", "s", "herd=h", "dbs=g"],
            "Sync s was not added; nothing was changed",
            "Column \"qty\" of table \"public\".\"items\" is missing in database db3",
            "ALTER TABLE \"public\".\"items\" ADD COLUMN \"qty\" numeric(12,2);");
    }

    [Fact]
    public async Task a_column_of_another_type_is_named_with_both_types()
    {
        await using var t = await ReadyAsync(nameof(a_column_of_another_type_is_named_with_both_types));
        await servers[1].ExecuteAsync(t.Database, "ALTER TABLE items ALTER COLUMN qty TYPE text", default);
        await RefusedAndUntouchedAsync(t, Refusal.Failure, ["add", "sync", "s", "herd=h", "dbs=g"],
            "Column \"qty\" of table \"public\".\"items\" is numeric(12,2) in database db1 but text in database db2");
    }

    [Fact]
    public async Task a_table_missing_on_a_target_is_named_with_its_database()
    {
        await using var t = await ReadyAsync(nameof(a_table_missing_on_a_target_is_named_with_its_database));
        await servers[2].ExecuteAsync(t.Database, "DROP TABLE items", default);
        await RefusedAndUntouchedAsync(t, Refusal.Failure, ["add", "sync", "s", "herd=h", "dbs=g"],
            "Table \"public\".\"items\" does not exist in database db3", "same columns and primary key");
    }

    [Fact]
    public async Task a_different_primary_key_on_a_target_is_named()
    {
        await using var t = await ReadyAsync(nameof(a_different_primary_key_on_a_target_is_named));
        await servers[1].ExecuteAsync(t.Database, "ALTER TABLE items DROP CONSTRAINT items_pkey; ALTER TABLE items ADD PRIMARY KEY (id, name)", default);
        await RefusedAndUntouchedAsync(t, Refusal.Failure, ["add", "sync", "s", "herd=h", "dbs=g"],
            "has primary key (id) in database db1 but (id, name) in database db2");
    }

    [Fact]
    public async Task a_role_lacking_trigger_on_a_table_is_told_the_exact_grant_to_run()
    {
        await using var t = await ReadyAsync(nameof(a_role_lacking_trigger_on_a_table_is_told_the_exact_grant_to_run));
        await servers[1].ExecuteAsync(t.Database, $"REVOKE TRIGGER ON items FROM {RestrictedRole.User}", default);
        await RefusedAndUntouchedAsync(t, Refusal.Failure, ["add", "sync", "s", "herd=h", "dbs=g"],
            "Database db2", $"GRANT TRIGGER ON \"public\".\"items\" TO \"{RestrictedRole.User}\";", "table owner or a superuser");
        // The statement is the whole fix: run it, and the same command succeeds.
        await servers[1].ExecuteAsync(t.Database, $"GRANT TRIGGER ON \"public\".\"items\" TO \"{RestrictedRole.User}\";", default);
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
    }

    [Fact]
    public async Task a_database_that_lost_its_create_grant_is_told_the_exact_grant_to_run()
    {
        await using var t = await ReadyAsync(nameof(a_database_that_lost_its_create_grant_is_told_the_exact_grant_to_run));
        await servers[2].ExecuteAsync("postgres", $"REVOKE CREATE ON DATABASE \"{t.Database}\" FROM {RestrictedRole.User}", default);
        await RefusedAndUntouchedAsync(t, Refusal.Failure, ["add", "sync", "s", "herd=h", "dbs=g"],
            "Database db3", $"GRANT CREATE ON DATABASE \"{t.Database}\" TO \"{RestrictedRole.User}\";");
    }

    [Fact]
    public async Task a_database_ferry_may_no_longer_connect_to_is_named_with_the_grant_to_run()
    {
        await using var t = await ReadyAsync(nameof(a_database_ferry_may_no_longer_connect_to_is_named_with_the_grant_to_run));
        // CONNECT is PUBLIC's by default; take it from both, as a locked-down managed database would.
        await servers[1].ExecuteAsync("postgres",
            $"REVOKE CONNECT ON DATABASE \"{t.Database}\" FROM PUBLIC, {RestrictedRole.User}", default);
        await RefusedAndUntouchedAsync(t, Refusal.Failure, ["add", "sync", "s", "herd=h", "dbs=g"],
            $"may not connect to db2", $"GRANT CONNECT ON DATABASE \"{t.Database}\" TO \"{RestrictedRole.User}\";");
    }

    [Fact]
    public async Task a_table_without_primary_key_is_refused_by_name()
    {
        await using var t = await ReadyAsync(nameof(a_table_without_primary_key_is_refused_by_name));
        await RefusedAndUntouchedAsync(t, Refusal.Failure, ["add", "sync", "s", "tables=notes", "dbs=g"],
            "\"public\".\"notes\" in database db1 has no primary key");
    }

    [Fact]
    public async Task names_that_do_not_exist_are_named_with_how_to_create_them()
    {
        await using var t = await ReadyAsync(nameof(names_that_do_not_exist_are_named_with_how_to_create_them));
        await RefusedAndUntouchedAsync(t, Refusal.Failure, ["add", "sync", "s", "herd=h", "dbs=nosuch"], "Unknown dbgroup 'nosuch'", "ferry add dbgroup");
        await RefusedAndUntouchedAsync(t, Refusal.Failure, ["add", "sync", "s", "herd=nosuch", "dbs=g"], "Unknown herd 'nosuch'");
        await RefusedAndUntouchedAsync(t, Refusal.Failure, ["add", "sync", "s", "herd=h", "dbs=db1:source,dbx:target"],
            "Unknown database 'dbx'", "ferry add database dbx");
    }

    [Fact]
    public async Task names_already_taken_are_refused_rather_than_changed()
    {
        await using var t = await ReadyAsync(nameof(names_already_taken_are_refused_rather_than_changed));
        await t.Cli.OkAsync("add", "dbgroup", "solo", "db1:source");
        await t.Cli.OkAsync("add", "herd", "other", "items");
        await RefusedAndUntouchedAsync(t, Refusal.Failure, ["add", "sync", "s", "herd=h", "dbs=solo"], "needs at least two databases");
        // tables= would add to herd "other", which another sync may replicate: refused, not merged.
        await RefusedAndUntouchedAsync(t, Refusal.Failure, ["add", "sync", "s", "herd=other", "tables=items,notes", "dbs=g"],
            "Herd other already exists with other tables");
        // dbs=a:source,... makes a dbgroup named after the sync: one of that name must not be shadowed.
        await RefusedAndUntouchedAsync(t, Refusal.Failure, ["add", "sync", "g", "herd=h", "dbs=db1:source,db2:target"],
            "A dbgroup named g already exists");
    }

    [Fact]
    public async Task malformed_sync_lines_are_usage_errors_that_change_nothing()
    {
        await using var t = await ReadyAsync(nameof(malformed_sync_lines_are_usage_errors_that_change_nothing));
        (string[] Args, string Says)[] cases =
        [
            (["add", "sync", "s", "herd=h", "dbs=g", "foo=bar"], "Unknown option for 'add sync': foo"),
            // The typo is named first, not "which databases?": dbz= was meant as dbs=.
            (["add", "sync", "s", "herd=h", "dbz=g"], "Unknown option for 'add sync': dbz"),
            (["add", "sync", "s", "herd=h"], "Which databases?"),
            (["add", "sync", "s", "dbs=g"], "Which tables?"),
            (["add", "sync", "herd=h", "dbs=g"], "Expected: ferry add sync NAME"),
            (["add", "sync", "s;drop", "herd=h", "dbs=g"], "not a valid sync name"),
            (["add", "sync", "s", "herd=h", "dbs=g", "conflict_strategy=newest"], "Unknown conflict_strategy 'newest'"),
            (["add", "sync", "s", "herd=h", "dbs=g", "status=paused"], "status must be active or inactive"),
            (["add", "sync", "s", "herd=h", "dbs=g", "onetimecopy=3"], "onetimecopy takes 0 (no copy)"),
            (["add", "sync", "s", "herd=h", "dbs=db1:target,db2:target"], "needs at least one source"),
            (["add", "sync", "s", "herd=h", "dbs=db1:source,db2:boss"], "Unknown role 'boss'"),
            (["add", "sync", "s", "herd=h", "dbs=db1:source,db1:target"], "listed twice"),
            (["add", "sync", "s", "tables=\"items", "dbs=g"], "Unterminated quoted name"),
            (["add", "sync", "s", "tables=", "dbs=g"], "tables= is empty"),
        ];
        foreach (var (args, says) in cases) await RefusedAndUntouchedAsync(t, Refusal.Usage, args, says);
    }

    [Fact]
    public async Task a_sync_that_exists_is_not_replaced()
    {
        await using var t = await ReadyAsync(nameof(a_sync_that_exists_is_not_replaced));
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
        await t.Cli.RefusesAsync(Refusal.Failure, ["add", "sync", "s", "herd=h", "dbs=g"], "'s' already exists", "ferry remove sync s");
    }
}
