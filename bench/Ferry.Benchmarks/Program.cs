using System.Diagnostics;
using Ferry.Benchmarks;

BenchOptions? options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}
if (options is null)
{
    Console.WriteLine(BenchOptions.Usage);
    return 0;
}

using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(45));
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};
var ct = cancel.Token;
var clock = Stopwatch.StartNew();
void Log(string message) => Console.Error.WriteLine($"[{clock.Elapsed.TotalSeconds,6:F1}s] {message}");

var started = DateTimeOffset.UtcNow;
var loadAtStart = BenchReport.LoadAverage();
Log("starting two PostgreSQL servers (source, target)");
await using var cluster = await BenchCluster.StartAsync(ct);
var machine = await BenchReport.MachineAsync(cluster, ct);
var results = new List<ScenarioResult>();
var scenarios = new (string Name, Func<Task<ScenarioResult>> Run)[]
{
    (BulkScenario.Name, () => new BulkScenario(cluster, options.BulkRuns, Log).RunAsync(ct)),
    (LatencyScenario.Name, () => new LatencyScenario(cluster, Log).RunAsync(ct)),
    (CaptureOverheadScenario.Name, () => new CaptureOverheadScenario(cluster, options.PhaseDuration, options.CaptureRounds, Log, durable: true, alsoWal: true).RunAsync(ct)),
    (CaptureOverheadScenario.NameNotDurable, () => new CaptureOverheadScenario(cluster, options.PhaseDuration, options.CaptureRounds, Log, durable: false).RunAsync(ct)),
    (CaptureOverheadScenario.NameWal, () => new CaptureOverheadScenario(cluster, options.PhaseDuration, options.CaptureRounds, Log, durable: true, wal: true).RunAsync(ct)),
    (RoundTripScenario.Name, () => new RoundTripScenario(cluster, Log).RunAsync(ct)),
    (OneTimeCopyScenario.Name, () => new OneTimeCopyScenario(cluster, options.BulkRuns, Log).RunAsync(ct)),
    // Issue 4, links that fail: through a FaultProxy between the relay and the target.
    (LinkDrainScenario.Name, () => new LinkDrainScenario(cluster, options.BulkRuns, Log).RunAsync(ct)),
    (LinkLatencyScenario.Name, () => new LinkLatencyScenario(cluster, Log).RunAsync(ct)),
    (BlackholeScenario.Name, () => new BlackholeScenario(cluster, Log).RunAsync(ct)),
    (KillRecoveryScenario.Name, () => new KillRecoveryScenario(cluster, Log).RunAsync(ct)),
    // Issue 17, performance: the application's bulk statements under capture, and the apply of updates and deletes.
    (BulkStatementsScenario.Name, () => new BulkStatementsScenario(cluster, options.BulkRuns, Log).RunAsync(ct)),
    (ApplyUpdatesScenario.Name, () => new ApplyUpdatesScenario(cluster, options.BulkRuns, Log).RunAsync(ct)),
    (TpcbTwoMastersScenario.Name, () => new TpcbTwoMastersScenario(cluster, options.PhaseDuration, options.CaptureRounds, Log).RunAsync(ct)),
    // Issue 18, several relays on one PostgreSQL control store: throughput with 1, 2, 3 relays and takeover after kill -9.
    (SeveralRelaysScenario.Name, () => new SeveralRelaysScenario(cluster, Log).RunAsync(ct)),
};
var failed = 0;
foreach (var (name, run) in scenarios.Where(s => options.Runs(s.Name)))
{
    Log($"{name}: running");
    try
    {
        var result = await run();
        results.Add(result);
        Log($"{name}: done - {result.Summary[0]}");
    }
    catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
    {
        // One broken scenario must not lose the others' figures: record it and go on.
        failed++;
        Log($"{name}: FAILED - {e}");
        results.Add(ScenarioResult.Failed(name, e));
    }
}

var document = BenchReport.Document(machine, started, clock.Elapsed, loadAtStart, results);
await BenchReport.WriteAsync(options.OutPath, document, ct);
BenchReport.PrintSummary(document, results, options.OutPath);
return failed == 0 ? 0 : 1;
