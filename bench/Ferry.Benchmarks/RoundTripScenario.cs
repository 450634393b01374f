using System.Text.Json.Nodes;
using Ferry.Relay;
using Npgsql;

namespace Ferry.Benchmarks;

/// <summary>
/// <c>round_trips</c>: how many client/server round trips one pair's drain costs, counted on the wire by a proxy in
/// front of each database (<see cref="CountingProxy"/>). On a 300 ms link round trips, not bytes, are the cost
/// (DESIGN: "a chunk costs a handful of round trips"). Runs the pair's pipeline (<see cref="PairRunner"/>) directly,
/// without the relay's loop, so nothing else talks on those connections.
/// </summary>
public sealed class RoundTripScenario(BenchCluster cluster, Action<string> log)
{
    public const string Name = "round_trips";
    private const string Database = "bench_rt";
    private const int SingleChunkRows = 1_000;
    private const int MultiChunkRows = 5_000;
    private const int SmallChunk = 1_000;

    public async Task<ScenarioResult> RunAsync(CancellationToken ct)
    {
        await cluster.CreateDatabaseAsync(Database,
            "CREATE TABLE rt (id bigint PRIMARY KEY, name text, amount numeric, created timestamptz)", ["rt"], ct);
        // Installs the capture through the same public API as the other scenarios; its relay is never started.
        await using var installed = await RelayHarness.CreateAsync(cluster.Source, cluster.Target, Database, ["rt"], ct);
        await using var sourceProxy = new CountingProxy(cluster.Source.Port);
        await using var targetProxy = new CountingProxy(cluster.Target.Port);
        sourceProxy.Start();
        targetProxy.Start();
        var group = new DbGroup("g", [new DbGroupMember("src", Role.Source), new DbGroupMember("tgt", Role.Target)]);
        var sync = new Sync("s", "h", "g", Resolve.ConflictRule.Latest, true);
        var setup = new PairSetup(new Pair("s", "src", "tgt"), sync, group,
            new Herd("h", [new TableName("public", "rt")]),
            Via(BenchRoles.FerryDatabase("src", cluster.Source, Database), sourceProxy),
            Via(BenchRoles.FerryDatabase("tgt", cluster.Target, Database), targetProxy))
        {
            // As the relay would run it: a one-source target keeps no row versions.
            TargetKeepsVersions = !PlainTargets.Of([(sync, group)]).Contains("tgt"),
        };

        await using var runner = await PairRunner.OpenAsync(setup, ct);
        await runner.DrainAsync(SmallChunk, ct); // loads progress, creates the temporary tables, moves the first snapshot

        async Task<(long Source, long Target, int Chunks)> Count(int rowsFirst, long firstId, int chunkRows)
        {
            if (rowsFirst > 0) await InsertAsync(firstId, rowsFirst, ct);
            sourceProxy.Reset();
            targetProxy.Reset();
            var result = await runner.DrainAsync(chunkRows, ct);
            if (result.Rows != rowsFirst)
                throw new InvalidOperationException($"The drain moved {result.Rows} rows, expected {rowsFirst}.");
            return (sourceProxy.RoundTrips, targetProxy.RoundTrips, result.Chunks);
        }

        var empty = await Count(0, 0, SmallChunk);
        var single = await Count(SingleChunkRows, 1, 20_000);
        var multi = await Count(MultiChunkRows, 1 + SingleChunkRows, SmallChunk);
        log($"{Name}: empty poll {empty.Source}+{empty.Target}, one-chunk batch {single.Source}+{single.Target}, " +
            $"{multi.Chunks}-chunk batch {multi.Source}+{multi.Target} (source+target)");

        JsonObject Figure((long Source, long Target, int Chunks) c, int chunks) => new()
        {
            ["source"] = Stats.Round((double)c.Source / chunks, 2),
            ["target"] = Stats.Round((double)c.Target / chunks, 2),
            ["total"] = Stats.Round((double)(c.Source + c.Target) / chunks, 2),
        };
        var perChunkMulti = (double)(multi.Source + multi.Target) / multi.Chunks;
        var figures = new JsonObject
        {
            ["round_trips_per_chunk"] = Figure(single, 1),
            ["round_trips_per_chunk_in_multi_chunk_batch"] = Figure(multi, multi.Chunks),
            ["round_trips_empty_poll"] = Figure(empty, 1),
            ["multi_chunk_batch"] = $"{MultiChunkRows} rows in chunks of {SmallChunk}: {multi.Chunks} chunks",
            ["counting"] = "a round trip = the server answering after the client sent something since its last answer",
        };
        return new ScenarioResult(Name, figures, null, null,
        [
            $"one-chunk batch ({SingleChunkRows} rows): {single.Source + single.Target} round trips " +
            $"({single.Source} source, {single.Target} target)",
            $"{multi.Chunks}-chunk batch: {perChunkMulti:F1} round trips per chunk " +
            $"({multi.Source} source, {multi.Target} target in all)",
            $"empty poll: {empty.Source + empty.Target} round trips ({empty.Source} source, {empty.Target} target)",
        ]);
    }

    private static Database Via(Database db, CountingProxy proxy) =>
        db with
        {
            Settings = new Dictionary<string, string>(db.Settings)
            {
                ["port"] = proxy.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
        };

    private async Task InsertAsync(long firstId, int rows, CancellationToken ct)
    {
        await using var c = await BenchCluster.OpenAsync(BenchRoles.WriterConnectionString(cluster.Source, Database), ct);
        await using var insert = new NpgsqlCommand($"""
            INSERT INTO rt (id, name, amount, created)
            SELECT g, 'customer ' || g, round((g * 1.37)::numeric, 2), now() FROM generate_series({firstId}, {firstId + rows - 1}) AS g
            """, c);
        await insert.ExecuteNonQueryAsync(ct);
    }
}
