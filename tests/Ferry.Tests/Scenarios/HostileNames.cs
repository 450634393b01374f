using System.Text;
using Ferry.Postgres;
using Ferry.Tests.Harness;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// Table, column and schema names made to break out of the SQL ferry installs and runs: dollar-quote tags of
/// ferry's own function bodies, its template placeholders, quotes, semicolons, a newline, spaces, and names at the
/// 63-byte limit that share a long prefix. `ferry add all tables` picks them all up; every stage must treat them as
/// names and nothing else, and every database must end up the same.
/// </summary>
[Collection("scenario-servers")]
public sealed class HostileNames(ServerFixture servers)
{
    private const string OddSchema = "s{{rv}} $do$; \"x\"";

    /// <summary>A name of exactly 63 bytes (PostgreSQL's limit): two of them differ only in their last character.</summary>
    private static string Long(char last)
    {
        var name = "{{key_cols}} a long name; with \"quotes\" and $fn$ to the limit ";
        name += new string('.', 62 - Encoding.UTF8.GetByteCount(name)) + last;
        Assert.Equal(63, Encoding.UTF8.GetByteCount(name));
        return name;
    }

    private static readonly string FnTable = Quote.Qualified("public", "t$fn$x");
    private static readonly string KeyColsTable = Quote.Qualified("public", "{{key_cols}}");
    private static readonly string OddTable = Quote.Qualified(OddSchema, "it's \"odd\";\n{{rv}} \\");
    private static readonly string LongA = Quote.Qualified("public", Long('a'));
    private static readonly string LongB = Quote.Qualified("public", Long('b'));
    private static readonly string[] Tables = [FnTable, KeyColsTable, OddTable, LongA, LongB];

    // Columns, quoted: placeholders of ferry's templates, and one with a newline.
    private const string KeyCols = "\"{{key_cols}}\"";
    private const string Rv = "\"{{rv}}\"";
    private const string TwoLines = "\"sp ace\nline\"";

    private static readonly string Schema = $"""
        CREATE SCHEMA {Quote.Ident(OddSchema)};
        CREATE TABLE {FnTable} ("k$fn$" int PRIMARY KEY, "v$do$" text, {KeyCols} text);
        CREATE TABLE {KeyColsTable} ("x'y" int PRIMARY KEY, "$fn$" text);
        CREATE TABLE {OddTable} ("x'y" text, {Rv} int, "semi;colon" text, {TwoLines} text, PRIMARY KEY ("x'y", {Rv}));
        CREATE TABLE {LongA} ("$do$" int PRIMARY KEY, v text);
        CREATE TABLE {LongB} ("$do$" int PRIMARY KEY, v text)
        """;

    private static readonly string[] Fingerprints = Tables.Select(t => Fingerprint.RowsSql(t)).ToArray();

    [Fact]
    public async Task names_that_close_ferrys_quotes_or_fill_its_placeholders_replicate_compare_and_copy_like_any_other()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(HostileNames), Schema, Tables);
        await t.TwoMastersAndReplicaAsync();
        await t.Cli.OkAsync("start");

        // Inserts on one master, updates (one moving a key) and deletes on the other, a truncate and refill.
        await t.ExecAsync(0, $"""
            INSERT INTO {FnTable} SELECT g, 'v' || g, 'k''' || g FROM generate_series(1, 50) AS g;
            INSERT INTO {KeyColsTable} SELECT g, '$fn$' || g FROM generate_series(1, 50) AS g;
            INSERT INTO {OddTable} SELECT 'a''' || g % 3, g, ';' || g, E'two\nlines' FROM generate_series(1, 50) AS g;
            INSERT INTO {LongA} SELECT g, 'a' FROM generate_series(1, 20) AS g;
            INSERT INTO {LongB} SELECT g, 'b' FROM generate_series(1, 30) AS g
            """);
        await ConvergedAsync(t);
        await t.ExecAsync(1, $"""
            UPDATE {FnTable} SET "v$do$" = 'changed' WHERE "k$fn$" <= 10;
            UPDATE {FnTable} SET "k$fn$" = 1000 WHERE "k$fn$" = 11;
            UPDATE {OddTable} SET {Rv} = 500, "semi;colon" = 'moved' WHERE {Rv} = 7;
            DELETE FROM {KeyColsTable} WHERE "x'y" > 40;
            DELETE FROM {OddTable} WHERE {Rv} BETWEEN 20 AND 25;
            TRUNCATE {LongA};
            INSERT INTO {LongA} VALUES (1, 'after the truncate')
            """);
        await ConvergedAsync(t);

        // A conflict: both masters change the same row while the relay is stopped.
        await t.Cli.OkAsync("stop");
        await t.ExecAsync(0, $"UPDATE {OddTable} SET \"semi;colon\" = 'db1' WHERE {Rv} = 1");
        await t.ExecAsync(1, $"UPDATE {OddTable} SET \"semi;colon\" = 'db2' WHERE {Rv} = 1");
        await t.Cli.OkAsync("start");
        await ConvergedAsync(t);
        // The rows may agree before a conflict's record is written, so wait for it. On the masters: each decides the other's
        // edit. The replica may never see the losing edit (its master may take the winner before the pair to the replica
        // reads the row, and then sends nothing the replica has not had from the winner's master), as in one CI run.
        await Eventually.UntilAsync(async () => await servers[0].ScalarAsync<long>(t.Database, "SELECT count(*) FROM ferry.conflicts", default)
                                                + await servers[1].ScalarAsync<long>(t.Database, "SELECT count(*) FROM ferry.conflicts", default),
            n => n > 0, TimeSpan.FromSeconds(30), "the conflict to be recorded on a master");

        // compare: the same; then a replica changed behind ferry's back is found and repaired from a source.
        Assert.Equal(0, (await t.Cli.RunAsync("compare", "s")).ExitCode);
        await servers[2].ExecuteAsync(t.Database, $"DELETE FROM {OddTable} WHERE {Rv} = 2; " +
                                                  $"UPDATE {KeyColsTable} SET \"$fn$\" = 'edited' WHERE \"x'y\" = 3", default);
        var found = await t.Cli.RunAsync("compare", "s");
        Assert.Equal(1, found.ExitCode);
        Assert.Contains("1 missing", found.Out, StringComparison.Ordinal);
        Assert.Contains("1 different", found.Out, StringComparison.Ordinal);
        var repair = await t.Cli.RunAsync("compare", "s", "repair=db1");
        Assert.Contains("Repair: 2 keys sent again from db1", repair.Out, StringComparison.Ordinal);
        await ConvergedAsync(t);
        Assert.Equal(0, (await t.Cli.RunAsync("compare", "s")).ExitCode);

        // copy: the replica, emptied behind ferry's back, is filled again beside the running relay.
        await servers[2].ExecuteAsync(t.Database, string.Join("; ", Tables.Select(x => "DELETE FROM " + x)), default);
        await t.Cli.OkAsync("copy", "s", "to=db3");
        await t.ExecAsync(0, $"INSERT INTO {LongB} VALUES (100, 'after the copy')");
        await ConvergedAsync(t);
        Assert.Equal(0, (await t.Cli.RunAsync("compare", "s")).ExitCode);
    }

    private static Task ConvergedAsync(Topology t) =>
        Fingerprint.ConvergedAsync(t, Fingerprints, [0, 1, 2], TimeSpan.FromSeconds(30));
}
