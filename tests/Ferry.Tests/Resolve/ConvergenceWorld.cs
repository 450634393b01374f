using Ferry.Install;
using Ferry.Relay;
using Ferry.Resolve;
using Ferry.Tests.Harness;
using Npgsql;
using Xunit;

namespace Ferry.Tests.Resolve;

/// <summary>
/// Three databases with table kv, ferry installed as the restricted role, and the machinery to play a
/// <see cref="History"/>: writes as the application, pairs driven one batch at a time through <see cref="PairRunner"/>.
/// </summary>
public sealed class ConvergenceWorld
{
    private readonly ServerFixture _servers;
    private readonly string _database;
    private readonly Database[] _dbs;

    private ConvergenceWorld(ServerFixture servers, string database)
    {
        _servers = servers;
        _database = database;
        _dbs = Enumerable.Range(0, 3).Select(i => new Database($"db{i + 1}", new Dictionary<string, string>
        {
            ["host"] = servers[i].Host, ["port"] = servers[i].Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["dbname"] = database, ["user"] = RestrictedRole.User,
        }, RestrictedRole.Password)).ToArray();
    }

    public static async Task<ConvergenceWorld> CreateAsync(ServerFixture servers, string name)
    {
        var db = await servers.CreateDatabasesAsync(name, default);
        foreach (var s in servers.Servers)
        {
            await s.ExecuteAsync(db, $"SET ROLE {RestrictedRole.Owner}; CREATE TABLE kv (k int PRIMARY KEY, v text NOT NULL); RESET ROLE;", default);
            await RestrictedRole.GrantTablesAsync(s, db, ["public.kv"], default);
        }
        var world = new ConvergenceWorld(servers, db);
        await SyncInstaller.InstallAsync(world._dbs, new Herd("h", [new TableName("public", "kv")]), Ferry.Postgres.LinkRetry.None, default);
        return world;
    }

    public async Task RunAsync(History h)
    {
        await ResetAsync(h.SkewMs);
        var group = new DbGroup("g", _dbs.Select((d, i) => new DbGroupMember(d.Name, i < h.Sources ? Role.Source : Role.Target)).ToList());
        var sync = new Sync("s", "h", "g", ConflictRule.Latest, true);
        var herd = new Herd("h", [new TableName("public", "kv")]);
        var pairs = Sync.PairsOf(sync, group);
        var runners = new PairRunner?[pairs.Count];
        var saved = new Dictionary<int, string?>();
        PairSetup Setup(int p) => new(pairs[p], sync, group, herd, _dbs.Single(d => d.Name == pairs[p].Source), _dbs.Single(d => d.Name == pairs[p].Target));
        async Task<PairRunner> Runner(int p) => runners[p] ??= await PairRunner.OpenAsync(Setup(p), default);
        try
        {
            foreach (var step in h.Steps)
            {
                switch (step)
                {
                    case Write w when w.Db < h.Sources:
                        await WriteAsync(w);
                        break;
                    case Deliver d:
                        var p = d.Pair % pairs.Count;
                        saved.TryAdd(p, await ProgressAsync(pairs[p]));
                        await (await Runner(p)).DrainAsync(d.ChunkRows, default);
                        break;
                    case Replay r when saved.TryGetValue(r.Pair % pairs.Count, out var snapshot):
                        var rp = r.Pair % pairs.Count;
                        await RestoreProgressAsync(pairs[rp], snapshot);
                        if (runners[rp] is { } old) await old.DisposeAsync();
                        runners[rp] = null;
                        break;
                }
            }
            // Quiescence: writes have stopped; every pair drains until a whole round moves nothing.
            for (var round = 0; ; round++)
            {
                Assert.True(round < 30, "pairs did not quiesce in 30 rounds");
                long moved = 0;
                for (var p = 0; p < pairs.Count; p++) moved += (await (await Runner(p)).DrainAsync(1000, default)).Rows;
                if (moved == 0) break;
            }
        }
        finally
        {
            foreach (var r in runners) if (r is not null) await r.DisposeAsync();
        }
        await AssertConvergedAsync();
    }

    private async Task AssertConvergedAsync()
    {
        var contents = new List<string>();
        var entries = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            contents.Add(await ScalarAsync(i, "SELECT coalesce(string_agg(k || '=' || v, ' ' ORDER BY k), '') FROM kv"));
            entries.Add(await ScalarAsync(i, $"""
                SELECT coalesce(string_agg(k || '@' || ferry_version || '/' || coalesce(ferry_origin, 'db{i + 1}'), ' ' ORDER BY k), '')
                FROM {new Capture.CaptureNames(new TableName("public", "kv")).RowVersions}
                """));
        }
        Assert.True(contents.Distinct().Count() == 1, "databases differ:\n" + string.Join("\n", contents));
        // Rows deleted by a truncate keep an older entry, so entries are compared for live rows only.
        var live = contents[0].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(kv => kv.Split('=')[0]).ToHashSet();
        var liveEntries = entries.Select(e => string.Join(' ', e.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Where(x => live.Contains(x.Split('@')[0])))).ToList();
        Assert.True(liveEntries.Distinct().Count() == 1, "row versions differ:\n" + string.Join("\n", liveEntries));

        // The same conflict, wherever it was decided, has the same winner.
        var decisions = new List<(string Key, string Winner)>();
        for (var i = 0; i < 3; i++)
        {
            var rows = await ScalarAsync(i, """
                SELECT coalesce(string_agg(key::text || '|' || least(local_version, incoming_version) || '|' ||
                       greatest(local_version, incoming_version) || '|' || winner, E'\n'), '')
                FROM ferry.conflicts
                """);
            decisions.AddRange(rows.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(r => (r[..r.LastIndexOf('|')], r[(r.LastIndexOf('|') + 1)..])));
        }
        foreach (var g in decisions.GroupBy(d => d.Key))
            Assert.True(g.Select(d => d.Winner).Distinct().Count() == 1, $"conflict {g.Key} has winners {string.Join(", ", g.Select(d => d.Winner))}");
    }

    private async Task WriteAsync(Write w)
    {
        var sql = w.Kind switch
        {
            "insert" => "INSERT INTO kv VALUES ($1, $3) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
            "update" => "UPDATE kv SET v = $3 WHERE k = $1",
            "rekey" => "UPDATE kv SET k = $2 WHERE k = $1",
            "delete" => "DELETE FROM kv WHERE k = $1",
            _ => "TRUNCATE kv",
        };
        await using var c = new NpgsqlConnection(RestrictedRole.ConnectionString(_servers[w.Db], _database, RestrictedRole.Writer, RestrictedRole.WriterPassword));
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        if (w.Kind != "truncate")
        {
            cmd.Parameters.AddWithValue(w.Key);
            cmd.Parameters.AddWithValue(w.Key2);
            cmd.Parameters.AddWithValue(w.Value);
        }
        try
        {
            await cmd.ExecuteNonQueryAsync();
        }
        catch (PostgresException e) when (e.SqlState == "23505")
        {
            // A key change onto an existing key: the application would see this error too; nothing happened.
        }
    }

    /// <summary>Empties everything as superuser (triggers off), and installs each database's skewed clock.</summary>
    private async Task ResetAsync(int[] skewMs)
    {
        var names = new Capture.CaptureNames(new TableName("public", "kv"));
        var (rv, log) = (names.RowVersions, names.Log);
        for (var i = 0; i < 3; i++)
        {
            await _servers[i].ExecuteAsync(_database, $"""
                SET session_replication_role = replica;
                TRUNCATE kv; TRUNCATE {rv}; TRUNCATE {log}; TRUNCATE ferry.progress; TRUNCATE ferry.conflicts; TRUNCATE ferry.truncates;
                """, default);
            await using var c = await Postgres.Connect.OpenAsync(_dbs[i], default);
            var shape = (await TableCatalog.ReadAsync(c, new TableName("public", "kv"), default))!;
            await NodeInstaller.InstallCaptureAsync(c, shape,
                $"(clock_timestamp() + interval '{skewMs[i]} milliseconds')", default);
        }
    }

    private async Task<string?> ProgressAsync(Pair pair) =>
        await _servers[Index(pair.Target)].ScalarAsync<string>(_database,
            $"SELECT applied_through::text FROM ferry.progress WHERE source_name = '{pair.Source}'", default);

    private async Task RestoreProgressAsync(Pair pair, string? snapshot) =>
        await _servers[Index(pair.Target)].ExecuteAsync(_database, snapshot is null
            ? $"DELETE FROM ferry.progress WHERE source_name = '{pair.Source}'"
            : $"UPDATE ferry.progress SET applied_through = '{snapshot}', chunk_to = NULL, chunk_table = NULL, chunk_after_key = NULL WHERE source_name = '{pair.Source}'",
            default);

    private static int Index(string db) => int.Parse(db[2..], System.Globalization.CultureInfo.InvariantCulture) - 1;

    private async Task<string> ScalarAsync(int server, string sql) =>
        await _servers[server].ScalarAsync<string>(_database, sql, default) ?? "";
}
