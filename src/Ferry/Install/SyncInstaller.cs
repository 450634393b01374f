using Ferry.Postgres;
using Npgsql;

namespace Ferry.Install;

/// <summary>
/// Prepares every database of a sync: checks first, on all of them, and changes nothing unless every check passes;
/// then installs ferry's schema and the capture of every table. Run again, it repairs what is missing.
/// </summary>
public static class SyncInstaller
{
    /// <summary>Every problem on every database, each naming the database, table and column, with the fix.</summary>
    public static Task<List<string>> CheckAsync(IReadOnlyList<Database> databases, Herd herd, LinkRetry retry, CancellationToken ct) =>
        CheckAsync(databases, herd, databases.Select(d => d.Name).ToHashSet(), retry, ct);

    /// <param name="sequenceTargets">the databases whose sequences the relay moves (targets of some pair): they need
    /// UPDATE on the herd's sequences, the others only SELECT</param>
    public static Task<List<string>> CheckAsync(IReadOnlyList<Database> databases, Herd herd,
        IReadOnlySet<string> sequenceTargets, LinkRetry retry, CancellationToken ct) =>
        CheckAsync(databases, herd, sequenceTargets,
            databases.SelectMany(a => databases.Where(b => b != a).Select(b => new Pair("", a.Name, b.Name))).ToList(), retry, ct);

    /// <param name="pairs">the directions rows go: each target must have every column its sources send (and may have
    /// more)</param>
    /// <param name="retry">each database's checks are read only: a link failure runs them again from the start</param>
    public static async Task<List<string>> CheckAsync(IReadOnlyList<Database> databases, Herd herd,
        IReadOnlySet<string> sequenceTargets, IReadOnlyList<Pair> pairs, LinkRetry retry, CancellationToken ct)
    {
        var problems = new List<string>();
        var shapes = new Dictionary<string, Dictionary<TableName, TableShape?>>();
        var sequences = new Dictionary<string, Dictionary<TableName, SequenceShape>>();
        foreach (var db in databases)
        {
            DatabaseCheck check;
            try
            {
                check = await retry.RunAsync(db, token => CheckOneAsync(db, herd, sequenceTargets.Contains(db.Name), pairs.Any(p => p.Source == db.Name), token), ct);
            }
            catch (FerryException e)
            {
                // Could not connect (or gave up on the link): the other databases are still checked and reported.
                problems.Add(e.Message);
                continue;
            }
            problems.AddRange(check.Problems);
            shapes[db.Name] = check.Shapes;
            sequences[db.Name] = check.Sequences;
        }
        problems.AddRange(SequenceDirectionProblems(databases, herd, sequences));
        if (shapes.Count == 0) return problems;
        var reference = databases.First(d => shapes.ContainsKey(d.Name));
        foreach (var t in herd.Tables)
        {
            var refShape = shapes[reference.Name][t];
            if (refShape is null)
            {
                problems.Add($"Table {t} does not exist in database {reference.Name} (or {reference.User} cannot see it).");
                continue;
            }
            if (ShapeCheck.KeyProblem(reference.Name, refShape) is { } keyProblem)
            {
                problems.Add(keyProblem);
                continue;
            }
            var missing = false;
            foreach (var db in databases.Where(d => d != reference && shapes.ContainsKey(d.Name)))
            {
                if (shapes[db.Name][t] is { } other) problems.AddRange(ShapeCheck.KeyProblems(reference.Name, refShape, db.Name, other));
                else problems.AddRange(ShapeCheck.Problems(reference.Name, refShape, db.Name, null));
                missing |= shapes[db.Name][t] is null;
            }
            if (missing) continue;
            foreach (var pair in pairs.Where(p => shapes.ContainsKey(p.Source) && shapes.ContainsKey(p.Target)))
                problems.AddRange(ShapeCheck.ColumnProblems(pair.Source, shapes[pair.Source][t]!, pair.Target, shapes[pair.Target][t]!));
        }
        return problems.Distinct().ToList();
    }

    private sealed record DatabaseCheck(List<string> Problems, Dictionary<TableName, TableShape?> Shapes,
        Dictionary<TableName, SequenceShape> Sequences);

    private static async Task<DatabaseCheck> CheckOneAsync(Database db, Herd herd, bool sequencesMoved, bool isSource, CancellationToken ct)
    {
        var problems = new List<string>();
        await using var c = await Connect.OpenAsync(db, ct, "ferry check");
        problems.AddRange((await GrantCheck.DatabaseProblemsAsync(c, ct))
            .Select(p => $"Database {db.Name}: as its owner or a superuser, run in {db.DbName}: {p}"));
        var found = new Dictionary<TableName, TableShape?>();
        foreach (var t in herd.Tables) found[t] = await TableCatalog.ReadAsync(c, t, ct);
        var present = found.Where(f => f.Value is not null).Select(f => f.Key).ToList();
        problems.AddRange((await GrantCheck.TableProblemsAsync(c, present, ct))
            .Select(p => $"Database {db.Name}: as the table owner or a superuser, run in {db.DbName}: {p}"));
        problems.AddRange(await TableKind.ProblemsAsync(c, db.Name, present, ct));
        // The row triggers cloned onto partitions need TRIGGER on each; WAL capture installs none.
        if (!db.CapturesWal)
            problems.AddRange((await TableKind.PartitionGrantProblemsAsync(c, present, ct))
                .Select(p => $"Database {db.Name}: as the table owner or a superuser, run in {db.DbName}: {p}"));
        problems.AddRange(await RowSecurity.ProblemsAsync(c, db.Name, present, ct));
        if (db.CapturesWal && isSource)
            problems.AddRange(await Capture.Wal.WalPublication.ProblemsAsync(c, db, present, ct));
        var sequences = await CheckSequencesAsync(c, db, herd, sequencesMoved, problems, ct);
        return new DatabaseCheck(problems, found, sequences);
    }

    /// <summary>
    /// The herd's sequences on one database: each must be a sequence there, readable, and where the relay moves it,
    /// writable. Sequences need nothing installed: the relay reads and moves them (Relay/SequenceSync).
    /// </summary>
    private static async Task<Dictionary<TableName, SequenceShape>> CheckSequencesAsync(NpgsqlConnection c, Database db, Herd herd,
        bool moved, List<string> problems, CancellationToken ct)
    {
        var found = new Dictionary<TableName, SequenceShape>();
        foreach (var s in herd.Sequences)
        {
            var lookup = await SequenceCatalog.ReadAsync(c, s, ct);
            if (lookup.Shape is { } shape) found[s] = shape;
            else if (lookup.OtherKind is { } kind)
                problems.Add($"Sequence {s} of herd {herd.Name} is {kind} in database {db.Name}, not a sequence.");
            else
                problems.Add($"Sequence {s} of herd {herd.Name} does not exist in database {db.Name} (or {db.User} cannot see it). " +
                             "Create it there as the other databases have it: every database of the sync needs it.");
        }
        problems.AddRange((await GrantCheck.SequenceProblemsAsync(c, found.Keys, moved, ct))
            .Select(p => $"Database {db.Name}: as the sequence owner or a superuser, run in {db.DbName}: {p}"));
        return found;
    }

    /// <summary>
    /// The relay moves a sequence forward in its own direction only; one that counts up on one database and down on
    /// another has no forward both agree on.
    /// </summary>
    private static IEnumerable<string> SequenceDirectionProblems(IReadOnlyList<Database> databases, Herd herd,
        Dictionary<string, Dictionary<TableName, SequenceShape>> sequences)
    {
        foreach (var s in herd.Sequences)
        {
            var seen = databases.Where(d => sequences.TryGetValue(d.Name, out var f) && f.ContainsKey(s))
                .Select(d => (Db: d.Name, Shape: sequences[d.Name][s])).ToList();
            if (seen.Count < 2) continue;
            var first = seen[0];
            if (seen.FirstOrDefault(x => x.Shape.Direction != first.Shape.Direction) is { Db: not null } other)
                yield return $"Sequence {s} counts {first.Shape.Direction} in database {first.Db} (INCREMENT BY {first.Shape.Increment}) " +
                             $"but {other.Shape.Direction} in database {other.Db} (INCREMENT BY {other.Shape.Increment}): ferry moves a " +
                             "sequence forward only, so it must count the same way everywhere. As its owner, change one of them " +
                             "(ALTER SEQUENCE ... INCREMENT BY ..., with MINVALUE, MAXVALUE and RESTART to match).";
        }
    }

    /// <summary>Installs with capture triggers on every database (all of them are read from).</summary>
    public static Task InstallAsync(IReadOnlyList<Database> databases, Herd herd, LinkRetry retry, CancellationToken ct) =>
        InstallAsync(databases, herd, databases.Select(d => d.Name).ToHashSet(), retry, ct);

    /// <param name="capturing">the databases some pair reads from, in this sync or another: only they get triggers</param>
    /// <param name="retry">
    /// The schema, then each table's capture, is one transaction of idempotent SQL; after a link failure the install
    /// reconnects and goes on with the first that did not commit (one whose COMMIT was lost on the way back is simply
    /// installed again, which changes nothing).
    /// </param>
    public static async Task InstallAsync(IReadOnlyList<Database> databases, Herd herd, IReadOnlySet<string> capturing, LinkRetry retry,
        CancellationToken ct)
    {
        foreach (var db in databases)
        {
            var schemaDone = false;
            var slotDone = false;
            var tablesDone = 0;
            await retry.RunAsync(db, async token =>
            {
                await using var c = await Connect.OpenAsync(db, token, "ferry install");
                if (!schemaDone)
                {
                    await NodeInstaller.InstallSchemaAsync(c, token);
                    schemaDone = true;
                    retry.Progressed();
                }
                // The slot before the triggers go (switching from trigger capture): in between, both capture, which the
                // fold makes harmless; the other way round, changes there would be captured by neither. And before any
                // copy takes its snapshot: every transaction the copy does not see is then in the slot.
                if (!slotDone && db.CapturesWal && capturing.Contains(db.Name))
                {
                    await Capture.Wal.WalSlot.EnsureAsync(c, db.Name, token);
                    slotDone = true;
                    retry.Progressed();
                }
                for (; tablesDone < herd.Tables.Count; tablesDone++)
                {
                    var t = herd.Tables[tablesDone];
                    var shape = await TableCatalog.ReadAsync(c, t, token)
                                ?? throw new FerryException($"Table {t} disappeared from {db.Name} while installing.");
                    // capture=wal: the relay reads the slot instead, and the triggers an earlier capture=trigger left go.
                    await NodeInstaller.InstallCaptureAsync(c, shape, token, triggers: capturing.Contains(db.Name) && !db.CapturesWal);
                    retry.Progressed();
                }
            }, ct);
        }
    }

    /// <summary>
    /// Drops capture triggers of the given tables where no remaining sync needs them, and the sync's unfinished copies.
    /// A database that cannot be reached is reported, not fatal: its triggers only keep recording row versions. Every
    /// drop is IF EXISTS, so a link failure runs the database's drops again.
    /// </summary>
    public static async Task<List<string>> RemoveCaptureAsync(string sync, IEnumerable<(Database Db, IReadOnlyList<TableName> Tables)> work,
        LinkRetry retry, CancellationToken ct)
    {
        var warnings = new List<string>();
        foreach (var (db, tables) in work)
        {
            try
            {
                await retry.RunAsync(db, async token =>
                {
                    await using var c = await Connect.OpenAsync(db, token, "ferry remove");
                    foreach (var t in tables) await NodeInstaller.RemoveCaptureAsync(c, t, token);
                    // An unfinished copy of the sync goes with it: a sync added again under the name starts its own.
                    await Copy.CopyCursor.ClearAllAsync(c, sync, token);
                }, ct);
            }
            catch (Exception e) when (e is FerryException or PostgresException)
            {
                // The sync is gone from the store by then, so the fix is SQL to run there, not a ferry command.
                var drops = tables.Select(t => new Capture.CaptureNames(t))
                    .SelectMany(n => new[] { $"DROP FUNCTION IF EXISTS {n.Function}() CASCADE;", $"DROP FUNCTION IF EXISTS {n.TruncateFunction}() CASCADE;" });
                warnings.Add($"Could not remove the capture triggers from {db.Name}: {e.Message.TrimEnd('.')}. They only keep " +
                             $"recording row versions there. When it is reachable, run in {db.DbName} as {db.User}: " +
                             string.Join(" ", drops));
            }
        }
        return warnings;
    }
}
