using System.Diagnostics;
using Ferry.Tests.Harness;
using Npgsql;
using Xunit;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// Every family of values survives the trip source → relay → targets byte for byte: binary COPY for built-in types,
/// text COPY for tables with user-defined types (enum, domain), and identifiers that only work when quoted.
/// </summary>
[Collection("scenario-servers")]
public sealed class ValuesRoundTrip(ServerFixture servers)
{
    private const string OrderLines = "\"My Schema\".\"Order Lines\"";

    private const string Schema = """"
        CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'it''s "odd", isn''t it');
        CREATE SCHEMA "My Schema";
        CREATE DOMAIN "My Schema"."Positive ""code""" AS int CHECK (VALUE > 0);
        CREATE TABLE numbers (id int PRIMARY KEY, n numeric, fixed numeric(60,30), f8 float8, f4 real, big bigint,
            small smallint);
        CREATE TABLE times (id int PRIMARY KEY, tstz timestamptz, ts timestamp, d date, iv interval, tm time, tmtz timetz);
        CREATE TABLE blobs (id int PRIMARY KEY, b bytea);
        CREATE TABLE docs (id int PRIMARY KEY, j json, jb jsonb);
        CREATE TABLE arrays (id int PRIMARY KEY, ints int[], texts text[], grid int[]);
        CREATE TABLE ids (id uuid PRIMARY KEY, other uuid, note text);
        CREATE TABLE texts (id int PRIMARY KEY, s text, v varchar(200), ch char(5));
        CREATE TABLE typed (kind mood, id int, code "My Schema"."Positive ""code""", moods mood[], s text,
            PRIMARY KEY (kind, id));
        CREATE TABLE "My Schema"."Order Lines" ("order ""no""" text, "line; no" int, "ship date" date,
            "we""ird; col" text, "Qty" numeric, PRIMARY KEY ("order ""no""", "line; no", "ship date"));
        """";

    private static readonly string[] Tables =
        ["public.numbers", "public.times", "public.blobs", "public.docs", "public.arrays", "public.ids", "public.texts",
         "public.typed", OrderLines];

    /// <summary>Text that breaks naive escaping: COPY's own escapes, the \N null marker, multi-byte and RTL text.</summary>
    private static readonly string[] Strings =
    [
        "plain", "", "emoji 🦀 👨‍👩‍👧‍👦 🏳️‍🌈", "CJK 漢字 かな カナ 한국어",
        "RTL مرحبا بالعالم עברית",
        "combining e\u0301 a\u0308 n\u0303 \u0915\u094D\u0937", "back\\slash\ttab\nnewline\r\ncr", "\\N", "NULL",
        "quote ' \" ; -- /* */ {a,b} (x)", "bom \uFEFF zero\u200Bwidth", "\u0001 control \u007F",
    ];

    private const string Values = """
        INSERT INTO numbers VALUES
            (1, 'NaN', 'NaN', 'NaN', 'NaN', 9223372036854775807, 32767),
            (2, 'Infinity', 1, 'Infinity', '-Infinity', -9223372036854775808, -32768),
            (3, (repeat('9', 1000) || '.' || repeat('1', 1000))::numeric,
                123456789012345678901234567890.123456789012345678901234567891,
                1.7976931348623157e308, 3.4028235e38, 0, 0),
            (4, ('0.' || repeat('0', 16000) || '1')::numeric, -0.000000000000000000000000000001, 5e-324, 1.4e-45, 1, -1),
            (5, -0.10, 0, '-0', '-0', NULL, NULL),
            (6, 0.1::float8 + 0.2::float8, NULL, 0.1::float8 + 0.2::float8, 0.1, NULL, NULL),
            (7, NULL, NULL, NULL, NULL, NULL, NULL);
        INSERT INTO times VALUES
            (1, 'infinity', 'infinity', 'infinity', '1 year 2 mons 3 days 04:05:06.789012', '23:59:59.999999',
                '12:34:56.123456+05:45'),
            (2, '-infinity', '-infinity', '-infinity', '-178000000 years', '00:00', '00:00:00-15:59'),
            (3, '2024-02-29 23:59:59.999999+13:45', '4713-01-01 00:00:00 BC', '5874897-12-31', '-1 days +02:03:04.5',
                '24:00:00', '24:00:00+15:59'),
            (4, '2021-04-04 03:45:00 Pacific/Chatham', '294276-12-31 23:59:59.999999', '4714-11-24 BC',
                '1 mon -1 day -00:00:00.000001',
                '00:00:00.000001', '23:59:59.999999-00:30'),
            (5, NULL, NULL, NULL, NULL, NULL, NULL);
        INSERT INTO blobs VALUES (1, ''), (2, '\x00'), (4, NULL), (5, convert_to('café 🦀', 'UTF8')),
            (3, (SELECT string_agg(set_byte('\x00'::bytea, 0, i), ''::bytea ORDER BY i) FROM generate_series(0, 255) i));
        INSERT INTO docs VALUES
            (1, '{"b": 1,  "a": [1, 2.50, "x"], "a": "dup"}', '{"b": 1,  "a": [1, 2.50, "x"], "a": "dup"}'),
            (2, '"\u00e9 \ud83e\udd80 \n \\ \" tab\t"', '"\u00e9 \ud83e\udd80 \n \\ \" tab\t"'),
            (3, 'null', 'null'),
            (4, '[1e400, -0, 0.1, 100000000000000000000000000001]', '[1e400, -0, 0.1, 100000000000000000000000000001]'),
            (5, '{"nul": "\u0000"}', NULL),
            (6, NULL, NULL);
        INSERT INTO arrays VALUES
            (1, '{1,NULL,3}', '{"a","NULL",NULL,"","with \"quote\"","back\\slash","comma, here","{brace}","  spaced  ","🦀"}',
                '{{1,2},{3,NULL}}'),
            (2, '{}', '{}', '{}'),
            (3, '[0:2]={7,8,9}', ARRAY[NULL]::text[], '[-1:0][5:5]={{1},{2}}'),
            (4, NULL, NULL, NULL);
        INSERT INTO ids VALUES ('00000000-0000-0000-0000-000000000000', NULL, NULL),
            ('ffffffff-ffff-ffff-ffff-ffffffffffff', gen_random_uuid(), 'max');
        INSERT INTO ids SELECT gen_random_uuid(), gen_random_uuid(), 'n' || i FROM generate_series(1, 20) i;
        INSERT INTO texts (id) VALUES (100);
        INSERT INTO typed VALUES ('happy', 100, NULL, NULL, NULL), ('sad', 101, 2147483647, '{}', NULL),
            ('ok', 102, 1, ARRAY['it''s "odd", isn''t it', NULL, 'sad']::mood[], 'x');
        """;

    [Fact]
    public async Task every_value_family_arrives_byte_exact_on_both_targets()
    {
        var clock = Stopwatch.StartNew();
        await using var t = await Topology.CreateAsync(servers, nameof(every_value_family_arrives_byte_exact_on_both_targets),
            Schema, Tables);
        await t.OneSourceTwoTargetsAsync();
        // Small chunks, so a batch spans many chunks and the cursor must carry composite, quoted, Unicode keys.
        t.Cli.Environment["FERRY_CHUNK_ROWS"] = "7";
        await t.Cli.OkAsync("start");

        await t.ExecAsync(0, Values);
        await using (var app = await t.AppAsync(0))
        {
            for (var i = 0; i < Strings.Length; i++)
            {
                await ExecAsync(app, "INSERT INTO texts VALUES ($1, $2, $2, $3)", i, Strings[i],
                    Strings[i][..Math.Min(5, Strings[i].Length)]);
                await ExecAsync(app, "INSERT INTO typed VALUES (($1::text)::mood, $2, $3, NULL, $4)",
                    new[] { "sad", "ok", "happy", "it's \"odd\", isn't it" }[i % 4], i, i + 1, Strings[i]);
                // Several lines and dates per order, so that chunks cut a composite key in the middle.
                for (var line = 1; line <= 4; line++)
                    await ExecAsync(app, $"INSERT INTO {OrderLines} VALUES ($1, $2, DATE '2024-02-28' + $3, $4, $5)",
                        Strings[i], line, line % 2, Strings[(i + line) % Strings.Length], line * 1.25m);
            }
            await ExecAsync(app, $"INSERT INTO {OrderLines} VALUES ('nulls', 1, '2000-01-01', NULL, NULL)");
        }
        // 50 MB of bytes made server-side (3,276,800 md5 digests of 16 bytes): one value far above any buffer size.
        await t.ExecAsync(0, "INSERT INTO blobs SELECT 50, string_agg(decode(md5(i::text), 'hex'), ''::bytea ORDER BY i) " +
                             "FROM generate_series(1, 3276800) i");
        Assert.Equal(52_428_800, await t.ScalarAsync<int>(0, "SELECT octet_length(b) FROM blobs WHERE id = 50"));

        await Fingerprint.ConvergedAsync(t, Queries(), [0, 1, 2], TimeSpan.FromSeconds(40));

        // A changed primary key is a delete of the old key and an insert of the new one, in any key column.
        await using (var app = await t.AppAsync(0))
        await using (var tx = await app.BeginTransactionAsync())
        {
            await ExecAsync(app, $"UPDATE {OrderLines} SET \"line; no\" = \"line; no\" + 1000 WHERE \"line; no\" = 1");
            // Takes over a key that the statement above freed in the same transaction.
            await ExecAsync(app, $"UPDATE {OrderLines} SET \"line; no\" = 1 WHERE \"line; no\" = 2");
            await ExecAsync(app, $"UPDATE {OrderLines} SET \"ship date\" = \"ship date\" + 366, " +
                                 "\"order \"\"no\"\"\" = \"order \"\"no\"\"\" || ' → moved' WHERE \"line; no\" = 3");
            await ExecAsync(app, "UPDATE typed SET kind = 'happy', id = id + 1000 WHERE kind = 'sad'");
            await ExecAsync(app, "UPDATE ids SET id = gen_random_uuid() WHERE note = 'max'");
            await ExecAsync(app, $"DELETE FROM {OrderLines} WHERE \"line; no\" = 4 AND \"order \"\"no\"\"\" LIKE '%e%'");
            await tx.CommitAsync();
        }
        await Fingerprint.ConvergedAsync(t, Queries(), [0, 1, 2], TimeSpan.FromSeconds(20));
        Assert.Equal(1L, await t.ScalarAsync<long>(2, $"SELECT count(*) FROM {OrderLines} WHERE \"line; no\" = 1001 " +
                                                      "AND \"order \"\"no\"\"\" = 'plain'"));
        Assert.Equal(0L, await t.ScalarAsync<long>(1,
            "SELECT count(*) FROM ids WHERE id = 'ffffffff-ffff-ffff-ffff-ffffffffffff'"));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"took {clock.Elapsed}");
    }

    private const string StyledSchema = """
        CREATE TYPE mood AS ENUM ('sad', 'ok');
        CREATE TABLE styled (d date, id int, kind mood, ts timestamp, tstz timestamptz, iv interval, f8 float8, f4 real,
            b bytea, PRIMARY KEY (d, id));
        CREATE TABLE plain_dates (d date, id int, iv interval, f8 float8, PRIMARY KEY (d, id));
        """;

    /// <summary>
    /// Databases of a sync live on servers configured apart (a database in China, another in a foreign cloud). Text
    /// COPY and the chunk cursor carry values as text, so each side's DateStyle, IntervalStyle and extra_float_digits
    /// must not change what a value means: "01/05/2024" is May 1st or January 5th, "-1 2:03:04" is one interval or
    /// another, and 0.1 + 0.2 prints as 0.3 when extra_float_digits is 0.
    /// </summary>
    [Fact]
    public async Task values_arrive_intact_between_databases_with_different_output_settings()
    {
        var clock = Stopwatch.StartNew();
        await using var t = await Topology.CreateAsync(servers,
            nameof(values_arrive_intact_between_databases_with_different_output_settings),
            StyledSchema, ["public.styled", "public.plain_dates"]);
        string[] settings =
        [
            "DateStyle = 'SQL, DMY'; IntervalStyle = sql_standard; extra_float_digits = 0; TimeZone = 'America/St_Johns'; " +
            "bytea_output = escape",
            "DateStyle = 'ISO, MDY'; IntervalStyle = postgres_verbose; TimeZone = 'Asia/Shanghai'",
            "DateStyle = 'Postgres, MDY'; IntervalStyle = iso_8601; extra_float_digits = -3; TimeZone = 'UTC'",
        ];
        for (var i = 0; i < settings.Length; i++)
            foreach (var setting in settings[i].Split(';'))
                await t.Servers[i].ExecuteAsync("postgres",
                    $"ALTER DATABASE \"{t.Database}\" SET {setting.Replace(" = ", " TO ")}", default);
        await t.OneSourceTwoTargetsAsync();
        t.Cli.Environment["FERRY_CHUNK_ROWS"] = "7";
        await t.Cli.OkAsync("start");

        // Negative intervals and dates whose day is at most 12 are where the styles disagree.
        await t.ExecAsync(0, """
            INSERT INTO styled SELECT DATE '2024-01-01' + i, i, CASE WHEN i % 2 = 0 THEN 'sad' ELSE 'ok' END::mood,
                TIMESTAMP '2024-01-01 10:00:00.123456' + i * interval '1 day 1 hour',
                TIMESTAMPTZ '2024-06-30 23:59:59.5+00' + i * interval '37 days',
                CASE WHEN i % 2 = 0 THEN -make_interval(days => i, hours => 2, mins => 3, secs => 4.5)
                     ELSE make_interval(years => i, days => -i, secs => i * 1.5) END,
                0.1 * i + 0.2, (i / 3.0)::real, decode(md5(i::text), 'hex')
            FROM generate_series(1, 40) i;
            INSERT INTO plain_dates SELECT d, id, iv, f8 FROM styled;
            """);

        var queries = new[] { Fingerprint.RowsSql("public.styled"), Fingerprint.RowsSql("public.plain_dates") };
        await Fingerprint.ConvergedAsync(t, queries, [0, 1, 2], TimeSpan.FromSeconds(30));
        Assert.Equal("40 rows", (await Fingerprint.OfAsync(t, 2, queries[1])).Split(':')[0]);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"took {clock.Elapsed}");
    }

    /// <summary>Row text for every table, and for blobs the bytes' md5 and length rather than 100 MB of hex.</summary>
    private static List<string> Queries()
    {
        var queries = Tables.Where(x => x != "public.blobs").Select(x => Fingerprint.RowsSql(x)).ToList();
        queries.Add(Fingerprint.RowsSql("public.blobs", "concat_ws(':', t.id, md5(t.b), octet_length(t.b), t.b IS NULL)"));
        return queries;
    }

    private static async Task ExecAsync(NpgsqlConnection c, string sql, params object[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, c);
        foreach (var a in args) cmd.Parameters.AddWithValue(a);
        await cmd.ExecuteNonQueryAsync();
    }
}
