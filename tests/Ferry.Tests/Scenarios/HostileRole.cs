using Ferry.Capture;
using Ferry.Relay;
using Ferry.Tests.Harness;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// An application role that may create objects in schema public (every role could, before PostgreSQL 15) must not
/// get its code run as ferry's role, nor blind ferry, nor hide its own writes from capture.
/// </summary>
[Collection("scenario-servers")]
public sealed class HostileRole(ServerFixture servers)
{
    private const string Schema =
        "CREATE TABLE items (id int PRIMARY KEY, name varchar(40) NOT NULL, n int); " +
        "CREATE TABLE tags (tag varchar(20) PRIMARY KEY, note text); CREATE SEQUENCE order_no";

    /// <summary>
    /// Stand-ins, in public, for what ferry calls. Each records who ran it in public.pwned (in a read-only
    /// transaction, where it cannot write, it fails naming itself) and otherwise behaves, so the pipeline runs on.
    /// The first group would win over pg_catalog's for ferry's unqualified calls under the default search_path: an
    /// exact argument-type match beats a function that needs a cast, "any" or a polymorphic type. The second group
    /// has pg_catalog's own signatures: it wins only on a path that puts public first, which the application sets
    /// for itself while its writes fire ferry's SECURITY DEFINER capture triggers.
    /// </summary>
    private const string Shadows = """
        GRANT CREATE ON SCHEMA public TO app_writer;
        SET ROLE app_writer;
        CREATE TABLE public.pwned (who name NOT NULL, what text NOT NULL);
        GRANT INSERT ON public.pwned TO PUBLIC;
        CREATE FUNCTION public.pwn(what text) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO public.pwned VALUES (current_user, what);
        EXCEPTION WHEN read_only_sql_transaction THEN
            RAISE EXCEPTION 'pwned: % ran as %', what, current_user;
        END $$;

        CREATE FUNCTION public.pg_advisory_xact_lock(k integer) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.pwn('pg_advisory_xact_lock(integer)'); PERFORM pg_catalog.pg_advisory_xact_lock(k::bigint); END $$;
        -- Returning 0 for every row made ferry compare call differing tables the same.
        CREATE FUNCTION public.hashtextextended(v text, seed integer) RETURNS bigint LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.pwn('hashtextextended(text, integer)'); RETURN 0; END $$;
        CREATE FUNCTION public.pg_column_size(r public.items) RETURNS integer LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.pwn('pg_column_size(items)'); RETURN 64; END $$;
        CREATE FUNCTION public.to_jsonb(r public.items) RETURNS jsonb LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.pwn('to_jsonb(items)'); RETURN pg_catalog.to_jsonb(r); END $$;
        CREATE FUNCTION public.unnest(a text[]) RETURNS SETOF text LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.pwn('unnest(text[])'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
        CREATE FUNCTION public.vc_eq(a varchar, b varchar) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.pwn('= (varchar)'); RETURN a::text OPERATOR(pg_catalog.=) b::text; END $$;
        CREATE FUNCTION public.vc_ne(a varchar, b varchar) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.pwn('<> (varchar)'); RETURN a::text OPERATOR(pg_catalog.<>) b::text; END $$;
        CREATE FUNCTION public.vc_gt(a varchar, b varchar) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.pwn('> (varchar)'); RETURN a::text OPERATOR(pg_catalog.>) b::text; END $$;
        CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.vc_eq);
        CREATE OPERATOR public.<> (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.vc_ne);
        CREATE OPERATOR public.> (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.vc_gt);

        CREATE FUNCTION public.current_setting(n text, missing_ok boolean) RETURNS text LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.pwn('current_setting(text, boolean)'); RETURN pg_catalog.current_setting(n, missing_ok); END $$;
        CREATE FUNCTION public.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.pwn('clock_timestamp()'); RETURN pg_catalog.clock_timestamp(); END $$;
        CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.pwn('now()'); RETURN pg_catalog.now(); END $$;
        CREATE FUNCTION public.pg_current_xact_id() RETURNS xid8 LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.pwn('pg_current_xact_id()'); RETURN pg_catalog.pg_current_xact_id(); END $$;
        CREATE FUNCTION public.pg_try_advisory_xact_lock_shared(a integer, b integer) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.pwn('pg_try_advisory_xact_lock_shared(integer, integer)');
              RETURN pg_catalog.pg_try_advisory_xact_lock_shared(a, b); END $$;
        CREATE FUNCTION public.text_eq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.pwn('= (text)'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
        CREATE FUNCTION public.text_ne(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.pwn('<> (text)'); RETURN a OPERATOR(pg_catalog.<>) b; END $$;
        CREATE FUNCTION public.name_eq(a name, b name) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN PERFORM public.pwn('= (name)'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
        CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.text_eq);
        CREATE OPERATOR public.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = public.text_ne);
        CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = name, FUNCTION = public.name_eq);
        RESET ROLE;
        """;

    /// <summary>The application's own session, with the path it chooses: its shadows first.</summary>
    private static async Task WriteAsync(Topology t, int server, string sql)
    {
        await using var c = await t.AppAsync(server);
        await using var cmd = new NpgsqlCommand("SET search_path = public, pg_catalog; " + sql, c);
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>Who, other than the application itself, ran a stand-in on each server.</summary>
    private async Task<string> VictimsAsync(Topology t)
    {
        var found = new List<string>();
        for (var s = 0; s < 3; s++)
            found.Add(await servers[s].ScalarAsync<string>(t.Database,
                "SELECT coalesce(string_agg(DISTINCT who || ' ran ' || what, '; '), '') FROM public.pwned WHERE who <> 'app_writer'",
                default) ?? "");
        return string.Join(" | ", found.Where(f => f.Length > 0));
    }

    private static async Task<long> TombstonesAsync(Topology t, int server) =>
        (await t.Servers[server].ScalarAsync<long>(t.Database,
            $"SELECT count(*) FROM {new CaptureNames(new TableName("public", "items")).RowVersions} r " +
            "WHERE NOT EXISTS (SELECT 1 FROM public.items i WHERE i.id = r.id)", default));

    [Fact]
    public async Task an_application_that_shadows_functions_and_operators_in_public_runs_nothing_as_ferry()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(an_application_that_shadows_functions_and_operators_in_public_runs_nothing_as_ferry),
            Schema, ["public.items", "public.tags"]);
        await servers[0].ExecuteAsync(t.Database, "ALTER SEQUENCE order_no INCREMENT BY 2 RESTART WITH 1", default);
        await servers[1].ExecuteAsync(t.Database, "ALTER SEQUENCE order_no INCREMENT BY 2 RESTART WITH 2", default);
        foreach (var s in servers.Servers)
        {
            await RestrictedRole.GrantSequencesAsync(s, t.Database, ["public.order_no"], default);
            await s.ExecuteAsync(t.Database, Shadows, default);
        }

        // Install, the relay's read and apply, sequences: two masters and a replica.
        await t.AddDatabasesAsync();
        // A search_path in options= is refused; one that gets past (an older store, a hand-edited one) is overridden.
        var refused = await t.Cli.RunAsync("add", "database", "sneaky", $"dbname={t.Database}", $"host={servers[0].Host}",
            $"port={servers[0].Port}", $"user={RestrictedRole.User}", $"pass={RestrictedRole.Password}", "options=-c search_path=public");
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("may not set search_path", refused.Err, StringComparison.Ordinal);
        var sneaky = new Database("sneaky", new Dictionary<string, string>
        {
            ["dbname"] = t.Database, ["host"] = servers[0].Host, ["port"] = servers[0].Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["user"] = RestrictedRole.User, ["options"] = "-c search_path=public -csearch_path=public",
        }, RestrictedRole.Password);
        await using (var c = await Ferry.Postgres.Connect.OpenAsync(sneaky, default))
        await using (var show = new NpgsqlCommand("SHOW search_path", c))
            Assert.Equal("pg_catalog", (string?)await show.ExecuteScalarAsync());

        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:source", "db3:target");
        await t.Cli.OkAsync("add", "all", "tables", "herd=h");
        await t.Cli.OkAsync("add", "sequence", "order_no", "herd=h");
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
        try
        {
            await ReplicateCompareCopyPurgeAsync(t);
        }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException || !e.Message.StartsWith("ferry's role", StringComparison.Ordinal))
        {
            // A stand-in that ran as ferry in a read-only transaction failed instead of recording: say which.
            var victims = await VictimsAsync(t);
            if (victims.Length > 0) throw new Xunit.Sdk.XunitException($"ferry's role ran the application's code: {victims}", e);
            throw;
        }

        Assert.Equal("", await VictimsAsync(t));
        // The stand-ins are live: on the default path the first group wins, on the application's own the second.
        await t.ExecAsync(0, "SELECT pg_advisory_xact_lock(1), hashtextextended('x', 0)");
        await WriteAsync(t, 0, "SELECT clock_timestamp()");
        Assert.Equal("clock_timestamp(),hashtextextended(text, integer),pg_advisory_xact_lock(integer)",
            await servers[0].ScalarAsync<string>(t.Database, "SELECT string_agg(DISTINCT what, ',') FROM public.pwned", default));
    }

    /// <summary>The pipeline as the relay and the CLI run it, through every kind of statement ferry makes.</summary>
    private async Task ReplicateCompareCopyPurgeAsync(Topology t)
    {
        Assert.Equal("", await VictimsAsync(t)); // add sync installed
        await t.Cli.OkAsync("start");
        await WriteAsync(t, 0, "INSERT INTO items SELECT g, 'one ' || g, nextval('order_no') FROM generate_series(1, 20) AS g; " +
                               "INSERT INTO tags VALUES ('red', 'from db1'), ('blue', 'from db1')");
        // 1,100 rows: a statement that large writes its row versions in the trigger itself, not through the log.
        await WriteAsync(t, 1, "INSERT INTO items SELECT g, 'two ' || g, g FROM generate_series(21, 1120) AS g; " +
                               "UPDATE tags SET note = 'seen on db2' WHERE tag = 'red'");
        await WriteAsync(t, 0, "DELETE FROM items WHERE id <= 5; TRUNCATE tags; INSERT INTO tags VALUES ('green', 'after the truncate')");
        await t.ConvergedAsync("items", [0, 1, 2]);
        await t.ConvergedAsync("tags", [0, 1, 2]);
        await Eventually.UntilAsync(async () => await servers[2].ScalarAsync<long>(t.Database, "SELECT last_value FROM order_no", default),
            v => v >= 39, TimeSpan.FromSeconds(20), "db3's order_no past db1's 39");

        // A conflict: the same row changed on both masters while the relay is stopped.
        await t.Cli.OkAsync("stop");
        await WriteAsync(t, 0, "UPDATE items SET name = 'db1 wins?' WHERE id = 10");
        await WriteAsync(t, 1, "UPDATE items SET name = 'db2 wins?' WHERE id = 10");
        await t.Cli.OkAsync("start");
        await t.ConvergedAsync("items", [0, 1, 2]);
        var conflicts = await t.Cli.OkAsync("conflicts");
        Assert.Contains("{\"id\": 10}", conflicts.Out, StringComparison.Ordinal);

        // compare must see three differing rows on the replica, made behind ferry's back; copy repairs them.
        await servers[2].ExecuteAsync(t.Database,
            "DELETE FROM items WHERE id = 7; INSERT INTO items VALUES (9999, 'stray', 0); UPDATE items SET n = -1 WHERE id = 8", default);
        var found = await t.Cli.RunAsync("compare", "s", "tables=items");
        Assert.True(found.ExitCode == 1, found.ToString());
        Assert.Contains("db3 differs from db1 (1115 rows there): 1 missing, 1 extra, 1 different.", found.Out, StringComparison.Ordinal);
        await t.Cli.OkAsync("copy", "s", "to=db3");
        await WriteAsync(t, 1, "UPDATE items SET name = 'after the copy' WHERE id = 21");
        await t.ConvergedAsync("items", [0, 1, 2]);
        Assert.Contains("the same on db1, db2, db3 (1115 rows)", (await t.Cli.OkAsync("compare", "s")).Out, StringComparison.Ordinal);

        // Tombstone purge, as the relay runs it (with no retention, the pairs' positions need not be waited for).
        await t.Cli.OkAsync("stop");
        Assert.Equal(5L, await TombstonesAsync(t, 0));
        using (var store = await Ferry.ControlStore.Store.OpenAsync(Path.Combine(t.Cli.Home, "ferry.db"), default))
            await new TombstonePurger(store, NullLogger.Instance, TimeSpan.Zero).PurgeOnceAsync(default);
        Assert.Equal(0L, await TombstonesAsync(t, 0));
    }

    [Fact]
    public async Task an_application_that_sets_ferry_origin_is_still_captured()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(an_application_that_sets_ferry_origin_is_still_captured),
            Schema, ["public.items", "public.tags"]);
        await t.AddDatabasesAsync(2);
        await t.Cli.OkAsync("add", "sync", "s", "tables=items,tags", "dbs=db1:source,db2:target");
        await t.ExecAsync(0, "INSERT INTO tags VALUES ('red', 'before')");
        await t.Cli.OkAsync("debug", "run-once", "s", "db1", "db2");

        // SET for the session, SET LOCAL for a transaction, and a truncate: each is the application's, and travels.
        await t.ExecAsync(0, "SET ferry.origin = 'db2'; INSERT INTO items VALUES (1, 'session', 1); TRUNCATE tags");
        await t.ExecAsync(0, "BEGIN; SET LOCAL ferry.origin = 'db2'; INSERT INTO items VALUES (2, 'local', 2); " +
                             "UPDATE items SET n = 10 WHERE id = 1; COMMIT");
        await t.Cli.OkAsync("debug", "run-once", "s", "db1", "db2");
        Assert.Equal("(1,session,10)\n(2,local,2)", await t.DumpAsync(1, "items"));
        Assert.Equal("", await t.DumpAsync(1, "tags"));
    }
}
