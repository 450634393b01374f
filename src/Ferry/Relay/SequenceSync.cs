using System.Diagnostics;
using Ferry.Postgres;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ferry.Relay;

/// <summary>
/// Carries a herd's sequences forward for one pair S → T: reads each on S and on T, and moves T's forward — never
/// back — to the first value of T's own residue class beyond every value S handed out (<see cref="SequencePlan"/>).
/// So a master never hands out a value another master already used, and interleaved masters keep their own values.
/// Moving to the maximum is commutative and idempotent, so every pair may do it in any order, any number of times.
/// <para>
/// Sequences are not rows: nextval() fires no trigger and sends no NOTIFY, and its effect is not transactional. They
/// are read at most once per poll interval, after a drain, over the pair's own two connections (two round trips, and
/// a third when one moves). A sequence that cannot be read or moved is reported as the pair's state and last error,
/// and never holds rows back; a broken link is the pair's failure like any other.
/// </para>
/// </summary>
public sealed partial class SequenceSync(PairSetup setup, RelayStatus? status, ILogger logger)
{
    private static readonly string ReadTemplate = SqlResources.Read("sequence_read.sql");
    private static readonly string CatchUpTemplate = SqlResources.Read("sequence_catch_up.sql");

    private long _lastRun;
    private string? _lastProblems;

    public sealed record Outcome(IReadOnlyList<(TableName Sequence, long Next)> Moved, IReadOnlyList<string> Problems);

    private IReadOnlyList<TableName> Sequences => setup.Herd.Sequences;

    /// <summary>After a drain: carries the sequences forward if the poll interval has passed since the last time.</summary>
    public async Task RunIfDueAsync(NpgsqlConnection source, NpgsqlConnection target, CancellationToken ct)
    {
        if (Sequences.Count == 0 || (_lastRun != 0 && Stopwatch.GetElapsedTime(_lastRun) < Defaults.PollInterval)) return;
        _lastRun = Stopwatch.GetTimestamp();
        var outcome = await CatchUpAsync(source, target, ct);
        foreach (var (sequence, next) in outcome.Moved) LogMoved(setup.Pair, sequence, next);
        var problems = outcome.Problems.Count == 0 ? null : string.Join(" ", outcome.Problems);
        // Logged when it changes, not once a second for as long as it lasts.
        if (problems is not null && problems != _lastProblems) LogProblems(setup.Pair, problems);
        _lastProblems = problems;
        if (status is not null) await status.SequencesAsync(setup.Pair, problems, ct);
    }

    /// <summary>
    /// One pass over the herd's sequences. A sequence PostgreSQL refuses (dropped, a grant revoked) is a problem of
    /// its own and the others go on; a broken connection throws, as a <see cref="LinkException"/> naming its end.
    /// </summary>
    public async Task<Outcome> CatchUpAsync(NpgsqlConnection source, NpgsqlConnection target, CancellationToken ct)
    {
        var problems = new List<string>();
        var moved = new List<(TableName, long)>();
        if (Sequences.Count == 0) return new Outcome(moved, problems);
        try
        {
            var onSource = await ReadAsync(source, setup.Source, "SELECT", problems, ct);
            var onTarget = await ReadAsync(target, setup.Target, "SELECT, UPDATE", problems, ct);
            var work = new List<(TableName Sequence, SequencePlan Plan)>();
            for (var i = 0; i < Sequences.Count; i++)
            {
                if (!onSource.TryGetValue(i, out var s) || !onTarget.TryGetValue(i, out var t)) continue;
                var plan = SequencePlan.For(s, t);
                if (plan.Problem is not null) problems.Add($"Sequence {Sequences[i]} on {setup.Target.Name} {plan.Problem}.");
                else if (plan.Kind != CatchUpKind.None) work.Add((Sequences[i], plan));
            }
            // The relay's own moves on one database take turns (pairs from several sources may move the same
            // sequence at once): each re-reads the position under the lock, so one never undoes another.
            var results = await RunEachAsync(target, work.Count, i => CatchUpCommand(work[i].Sequence, work[i].Plan),
                r => (long)r.GetDecimal(0), (i, e) => problems.Add(Explain(setup.Target, work[i].Sequence, "SELECT, UPDATE", e)), ct,
                first: "SELECT pg_advisory_xact_lock(hashtext('ferry.sequences'))");
            moved.AddRange(results.OrderBy(r => r.Key).Select(r => (work[r.Key].Sequence, r.Value)));
        }
        catch (Exception e) when (e is not LinkException && !(e is OperationCanceledException && ct.IsCancellationRequested))
        {
            if (LinkFailure.Attribute(e, setup, source, target) is { } failed) throw failed;
            throw;
        }
        return new Outcome(moved, problems);
    }

    /// <summary>Every readable sequence's state on one database, by its index in the herd.</summary>
    private async Task<Dictionary<int, SequenceState>> ReadAsync(NpgsqlConnection c, Database db, string needed,
        List<string> problems, CancellationToken ct) =>
        await RunEachAsync(c, Sequences.Count,
            i => new NpgsqlBatchCommand(Fill(ReadTemplate, Sequences[i])),
            r => new SequenceState(r.GetInt64(0), r.GetBoolean(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4), r.GetInt64(5)),
            (i, e) => problems.Add(Explain(db, Sequences[i], needed, e)), ct);

    private static NpgsqlBatchCommand CatchUpCommand(TableName sequence, SequencePlan plan)
    {
        var command = new NpgsqlBatchCommand(Fill(CatchUpTemplate, sequence));
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = plan.Goal });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = plan.Increment });
        command.Parameters.Add(new NpgsqlParameter<bool> { TypedValue = plan.Kind == CatchUpKind.Nextval });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = plan.Steps });
        return command;
    }

    private static string Fill(string template, TableName sequence) =>
        SqlResources.Fill(template, new Dictionary<string, string> { ["sequence"] = Quote.Qualified(sequence) });

    /// <summary>
    /// One command per item, all in one round trip, after <paramref name="first"/> if given (in the same implicit
    /// transaction). A command PostgreSQL refuses costs only its own item: the commands after it, skipped by the
    /// failed implicit transaction, run again in a new batch. That is safe for the moves too: each reads the position
    /// again and does nothing where it already stands.
    /// </summary>
    private static async Task<Dictionary<int, T>> RunEachAsync<T>(NpgsqlConnection c, int count, Func<int, NpgsqlBatchCommand> command,
        Func<NpgsqlDataReader, T> read, Action<int, PostgresException> refused, CancellationToken ct, string? first = null)
    {
        var results = new Dictionary<int, T>();
        var offset = first is null ? 0 : 1;
        var start = 0;
        while (start < count)
        {
            await using var batch = new NpgsqlBatch(c);
            if (first is not null) batch.BatchCommands.Add(new NpgsqlBatchCommand(first));
            for (var i = start; i < count; i++) batch.BatchCommands.Add(command(i));
            var current = start - offset; // the item whose result is being read; below start: the first command
            try
            {
                await using var r = await batch.ExecuteReaderAsync(ct);
                do
                {
                    if (current >= start && await r.ReadAsync(ct)) results[current] = read(r);
                    current++;
                } while (await r.NextResultAsync(ct));
                break;
            }
            catch (PostgresException e) when (c.FullState == System.Data.ConnectionState.Open)
            {
                // The connection lives on: the command whose result was being read was refused (Npgsql names it
                // too, where it can). A failure that broke the connection is the link's, and goes up.
                var at = e.BatchCommand is { } bad && batch.BatchCommands.IndexOf(bad) is >= 0 and var index ? start + index - offset : current;
                if (at < start)
                {
                    // The first command failed: nothing after it ran, and nothing will this time.
                    for (var skipped = start; skipped < count; skipped++) refused(skipped, e);
                    break;
                }
                refused(at, e);
                start = at + 1;
            }
        }
        return results;
    }

    private static string Explain(Database db, TableName sequence, string needed, PostgresException e) => e.SqlState switch
    {
        "42501" => $"Sequence {sequence} on {db.Name}: {e.MessageText}. As its owner or a superuser, run in {db.DbName}: " +
                   $"GRANT {needed} ON SEQUENCE {sequence} TO {Quote.Ident(db.User)};",
        "42P01" => $"Sequence {sequence} of the herd does not exist in database {db.Name} any more: create it there again " +
                   "(rows go on replicating meanwhile).",
        _ => $"Sequence {sequence} on {db.Name}: {e.MessageText} (SQLSTATE {e.SqlState}).",
    };

    [LoggerMessage(EventId = 110, Level = LogLevel.Information, Message = "Pair {Pair} moved sequence {Sequence} forward: next value {Next}")]
    private partial void LogMoved(Pair pair, TableName sequence, long next);

    [LoggerMessage(EventId = 111, Level = LogLevel.Warning, Message = "Pair {Pair} could not carry sequences forward: {Problems}")]
    private partial void LogProblems(Pair pair, string problems);
}
