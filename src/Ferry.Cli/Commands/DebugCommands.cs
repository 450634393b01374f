using Ferry.ControlStore;
using Ferry.Relay;

namespace Ferry.Cli.Commands;

/// <summary>
/// Hidden: `ferry debug run-once SYNC SOURCE TARGET` runs one pair's pipeline once (rows, then the herd's sequences),
/// in this process, and says what it did — for tests that drive pairs one batch at a time, and for an operator who wants to see one stage work.
/// </summary>
public static class DebugCommands
{
    public static async Task<int> RunAsync(BucardoArguments args, CancellationToken ct)
    {
        var chunkRows = int.TryParse(args.Get("chunk_rows"), out var c) ? c : Defaults.ChunkRows;
        args.RejectUnknown("debug");
        if (args.Words.Count != 4 || args.Words[0] != "run-once")
            throw new UsageException("ferry debug run-once SYNC SOURCE TARGET [chunk_rows=N]");
        using var store = await Store.OpenAsync(Defaults.StorePath, ct);
        var setup = await LoadAsync(store, args.Words[1], args.Words[2], args.Words[3], ct);
        await using var runner = await PairRunner.OpenAsync(setup, ct);
        var result = await runner.DrainAsync(chunkRows, ct);
        Output.Line($"{setup.Pair}: {result.Rows} rows in {result.Chunks} chunks, {result.Bytes} bytes, " +
                    $"{result.Elapsed.TotalMilliseconds:F1} ms" +
                    (result.DirectRows > 0 ? $", {result.DirectRows} rows copied straight in" : "") +
                    (result.DirectRefusals > 0 ? $", {result.DirectRefusals} straight copies refused" : ""));
        if (setup.Herd.Sequences.Count == 0) return 0;
        var sequences = await new SequenceSync(setup, null, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)
            .CatchUpAsync(runner.Source, runner.Target, ct);
        var count = setup.Herd.Sequences.Count;
        Output.Line($"{setup.Pair}: {count} sequence{(count == 1 ? "" : "s")}, {sequences.Moved.Count} moved forward" +
                    string.Concat(sequences.Moved.Select(m => $"; {m.Sequence} next {m.Next}")));
        foreach (var problem in sequences.Problems) Output.Error(problem);
        return sequences.Problems.Count == 0 ? 0 : 1;
    }

    public static async Task<PairSetup> LoadAsync(Store store, string syncName, string source, string target, CancellationToken ct)
    {
        var sync = await store.GetSyncAsync(syncName, ct);
        var group = await store.GetDbGroupAsync(sync.DbGroup, ct);
        var herd = await store.GetHerdAsync(sync.Herd, ct);
        var pair = Sync.PairsOf(sync, group).FirstOrDefault(p => p.Source == source && p.Target == target)
                   ?? throw new FerryException($"Sync {syncName} has no pair {source} -> {target}.");
        return new PairSetup(pair, sync, group, herd, await store.GetDatabaseAsync(source, ct), await store.GetDatabaseAsync(target, ct))
        {
            TargetKeepsVersions = !(await store.PlainTargetsAsync(ct)).Contains(target),
            TargetIsRead = (await store.ListSyncGroupsAsync(ct)).SelectMany(s => Sync.PairsOf(s.Sync, s.Group)).Any(p => p.Source == target),
        };
    }
}
