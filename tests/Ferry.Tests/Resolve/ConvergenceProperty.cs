using CsCheck;
using Ferry.Install;
using Ferry.Postgres;
using Ferry.Relay;
using Ferry.Resolve;
using Ferry.Tests.Harness;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace Ferry.Tests.Resolve;

/// <summary>
/// DESIGN invariant 4, tested as a property: for random interleavings of inserts, updates (key changes included),
/// deletes and truncates on 2–3 sources, random delivery orders, pauses and replays of pairs, and random clock skew,
/// every database holds the same rows once writes stop and every pair has drained, and every conflict has the same
/// winner wherever it was recorded. A failing case is shrunk by CsCheck and printed, ready to become a regression.
/// </summary>
[Collection("scenario-servers")]
public sealed class ConvergenceProperty(ServerFixture servers, ITestOutputHelper output)
{
    private const string Table = "kv";
    private static readonly TableName KvTable = new("public", Table);

    private static readonly Gen<Step> WriteGen =
        Gen.Select(Gen.Int[0, 2], Gen.Int[0, 9], Gen.Int[1, 8], Gen.Int[0, 99], Gen.Frequency(
                (6, Gen.Const("insert")), (6, Gen.Const("update")), (2, Gen.Const("rekey")), (3, Gen.Const("delete")),
                (1, Gen.Const("truncate"))))
            .Select(t => (Step)new Write(t.Item1, t.Item5, t.Item2, t.Item2 + t.Item3, "v" + t.Item4));

    private static readonly Gen<Step> StepGen = Gen.Frequency(
        (5, WriteGen),
        (4, Gen.Select(Gen.Int[0, 5], Gen.Int[1, 4]).Select(t => (Step)new Deliver(t.Item1, t.Item2))),
        (1, Gen.Int[0, 5].Select(p => (Step)new Replay(p))));

    private static readonly Gen<History> HistoryGen =
        Gen.Select(Gen.Int[2, 3], Gen.Int[-3000, 3000].Array[3], StepGen.Array[1, 40])
            .Select(t => new History(t.Item1, t.Item2, t.Item3));

    [Fact]
    public async Task every_database_converges_for_random_histories()
    {
        var world = await ConvergenceWorld.CreateAsync(servers, nameof(every_database_converges_for_random_histories));
        var cases = 0;
        await HistoryGen.SampleAsync(async h =>
        {
            Interlocked.Increment(ref cases);
            await world.RunAsync(h);
        }, writeLine: output.WriteLine, threads: 1, time: Seconds(), print: h => h.ToString());
        output.WriteLine($"convergence cases run: {cases}");
        Console.WriteLine($"[ConvergenceProperty] random cases run: {cases}");
    }

    /// <summary>Bounded in time: 40 s by default, FERRY_PROPERTY_SECONDS to search longer.</summary>
    private static int Seconds() =>
        int.TryParse(Environment.GetEnvironmentVariable("FERRY_PROPERTY_SECONDS"), out var s) && s > 0 ? s : 40;
}
