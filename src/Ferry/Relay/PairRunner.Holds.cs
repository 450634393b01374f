using Ferry.Postgres;
using Ferry.Progress;
using Ferry.Read;
using Npgsql;

namespace Ferry.Relay;

/// <summary>
/// Tables held on the pair. A table that cannot be applied on the target (its columns disagree with the source's, or
/// its apply meets a constraint, a missing grant, a missing table) gets a row in the target's <c>ferry.held_tables</c>
/// and is left out of the pair's reads, while the position moves on for the others. Its entries after the row's
/// snapshot wait on the source; when the cause is gone, they are read again for that table alone, from there up to
/// the pair's position (the snapshot arithmetic of any batch, one table), and applied; the last chunk deletes the row.
/// </summary>
public sealed partial class PairRunner
{
    private readonly PairTables _tables;
    private readonly Dictionary<int, TableHold> _holds = [];
    private readonly HashSet<int> _due = [];

    /// <summary>The tables held on this pair now.</summary>
    public IReadOnlyList<TableHold> Holds => _holds.OrderBy(h => h.Key).Select(h => h.Value).ToList();

    private IReadOnlySet<int> Held => _holds.Keys.ToHashSet();

    /// <summary>`ferry kick`: tables held for an error are tried again at the next drain, not after their wait.</summary>
    public void RetryHolds()
    {
        foreach (var (table, hold) in _holds)
            if (hold.Kind == HoldKind.Error) _due.Add(table);
    }

    /// <summary>
    /// When the pair connects: the holds the target keeps, a hold for each table whose two ends disagree now, and
    /// the tables whose ends agree again due to catch up.
    /// </summary>
    private async Task LoadHoldsAsync(CancellationToken ct)
    {
        _progress ??= await PairProgress.LoadAsync(_target, _setup.Pair, ct);
        foreach (var hold in await TableHold.LoadAsync(_target, _setup.Pair, ct))
        {
            var index = _tables.Apply.ToList().FindIndex(a => a.Shape.Name == hold.Table);
            if (index >= 0) _holds[index] = hold;
        }
        for (var i = 0; i < _tables.Disagreements.Count; i++)
        {
            if (_tables.Disagreements[i] is { } d) await HoldAsync(i, HoldKind.Schema, d.Cause, d.Fix, ct);
            else if (_holds.TryGetValue(i, out var hold) && (hold.Kind == HoldKind.Schema || DateTimeOffset.UtcNow - hold.TriedAt > Defaults.MaxBackoff))
                _due.Add(i);
        }
    }

    /// <summary>Writes (or says again) a table's hold, in its own transaction: it only ever widens what is read again.</summary>
    private async Task HoldAsync(int table, HoldKind kind, string cause, string fix, CancellationToken ct)
    {
        var name = _tables.Apply[table].Shape.Name;
        await using var cmd = new NpgsqlCommand(TableHold.HoldSql, _target);
        foreach (var value in new object[] { _setup.Pair.Sync, _setup.Pair.Source, name.Schema, name.Name,
                     _progress!.AppliedThrough ?? PairProgress.BeginningOfTime, TableHold.KindText(kind), cause, fix })
            cmd.Parameters.AddWithValue(value);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        _holds[table] = new TableHold(name, r.GetString(0), kind, cause, fix, r.GetFieldValue<DateTimeOffset>(1),
            r.GetFieldValue<DateTimeOffset>(2), r.IsDBNull(3) ? null : r.GetString(3), r.IsDBNull(4) ? null : r.GetFieldValue<string[]>(4));
        _due.Remove(table);
    }

    /// <summary>
    /// After a table's SQL error: ends both half-done transactions, holds the table, and, when the error says its
    /// columns or the table itself changed, has the pair read both ends' columns again.
    /// </summary>
    private async Task HoldForErrorAsync(TableError e, CancellationToken ct)
    {
        InFlightRows = 0;
        if (!_reader.EndPending) await _reader.EndAsync(ct);
        await _applier.AbandonAsync(ct);
        var (cause, fix) = Explain(e);
        await HoldAsync(e.Table, HoldKind.Error, cause, fix, ct);
        if (e.IsShape) throw new ShapeChanged($"Table {_tables.Apply[e.Table].Shape.Name}: {e.Error.MessageText}; reading its columns again.", e);
    }

    private (string Cause, string Fix) Explain(TableError e)
    {
        var pe = e.Error;
        var (source, target, sync) = (_setup.Pair.Source, _setup.Pair.Target, _setup.Pair.Sync);
        var table = _tables.Apply[e.Table].Shape.Name;
        var where = e.Database ?? $"{target} (or reading it on {source})";
        var cause = $"{pe.MessageText} on {where} (SQLSTATE {pe.SqlState})";
        var retry = $"; then ferry kick {sync}, or wait: it is tried again every {Defaults.MaxBackoff.TotalSeconds:0} s";
        var fix = pe.SqlState switch
        {
            PostgresErrorCodes.CheckViolation or PostgresErrorCodes.ExclusionViolation =>
                $"a row from {source} breaks constraint {pe.ConstraintName} of {table} on {target}: change the row on {source}, " +
                $"or drop or change the constraint on {target}",
            PostgresErrorCodes.NotNullViolation =>
                $"column {pe.ColumnName} of {table} is NOT NULL on {target} but empty in a row from {source}: fill it on {source}, " +
                $"or drop NOT NULL (or give it a default) on {target}",
            PostgresErrorCodes.UniqueViolation =>
                $"a row from {source} collides on {pe.ConstraintName} of {table} on {target}, a unique key {source} does not " +
                $"have: give both the same unique keys",
            PostgresErrorCodes.ForeignKeyViolation =>
                $"a row of {table} refers to a row missing on {target} ({pe.ConstraintName}): it comes once that row arrives",
            PostgresErrorCodes.InsufficientPrivilege =>
                $"grant the replication role SELECT, INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER on {table} on {where}",
            _ => $"make {table} accept the rows of {source} on {target}, as the message says",
        };
        return (cause, fix + retry);
    }

    /// <summary>A read whose snapshot sees other columns on the source than the pair was built for is not applied.</summary>
    private async Task<BatchPlan> CheckSourceShapesAsync(BatchPlan plan, CancellationToken ct)
    {
        if (plan.SourceShapes is null || plan.SourceShapes.SequenceEqual(_tables.SourceShapes))
            return plan.Truncates.Count == 0 ? plan : plan with { Truncates = plan.Truncates.Where(t => !IsHeld(t.Table)).ToList() };
        await _reader.EndAsync(ct);
        throw new ShapeChanged($"The columns of a replicated table changed on {_setup.Pair.Source}; reading them again.");
    }

    private bool IsHeld(TableName table) => _holds.Values.Any(h => h.Table == table);

    private async Task CheckTargetShapesAsync(CancellationToken ct)
    {
        var shapes = await PairTables.ShapesAsync(_target, _tables.Names, ct, Connect.IdleCommandSeconds);
        if (!shapes.SequenceEqual(_tables.TargetShapes))
            throw new ShapeChanged($"The columns of a replicated table changed on {_setup.Pair.Target}; reading them again.");
    }

    /// <summary>
    /// Catches up every held table that is due: schema holds whose ends agree again, error holds whose wait is over
    /// (or kicked). Parents first. Returns the rows and chunks applied.
    /// </summary>
    private async Task<(long Rows, int Chunks)> CatchUpDueAsync(ChunkSizer sizer, CancellationToken ct)
    {
        foreach (var (table, hold) in _holds)
            if (hold.Kind == HoldKind.Error && DateTimeOffset.UtcNow - hold.TriedAt > Defaults.MaxBackoff) _due.Add(table);
        long rows = 0;
        var chunks = 0;
        foreach (var table in _due.Order().ToList())
        {
            if (!_holds.TryGetValue(table, out var hold)) continue;
            _due.Remove(table);
            try
            {
                var (r, c) = await CatchUpAsync(table, hold, sizer, ct);
                rows += r;
                chunks += c;
                _holds.Remove(table);
                // A parent that came back may be what held a child's rows: try those again now.
                RetryHolds();
            }
            catch (TableError e) when (e.Holds && (e.Table == table || !_holds.ContainsKey(e.Table)))
            {
                // Another table's statement failed (a child's, say): that one is held, and this one tried again next time.
                if (e.Table != table) _due.Add(table);
                await HoldForErrorAsync(e, ct);
            }
        }
        return (rows, chunks);
    }

    /// <summary>
    /// Reads one held table's entries from its hold's snapshot (or its cursor) up to the pair's position, chunk by
    /// chunk, each committed with the hold's cursor; the last chunk deletes the hold.
    /// </summary>
    private async Task<(long Rows, int Chunks)> CatchUpAsync(int table, TableHold hold, ChunkSizer sizer, CancellationToken ct)
    {
        var p = _progress!;
        var to = hold.ResumeTo ?? p.AppliedThrough ?? PairProgress.BeginningOfTime;
        var after = hold.ResumeAfterKey;
        var others = Enumerable.Range(0, _tables.Apply.Count).Where(t => t != table).ToHashSet();
        var held = Held.Where(t => t != table).ToHashSet();
        long rows = 0;
        var chunks = 0;
        while (true)
        {
            var plan = await _reader.BeginAsync(hold.HeldFrom, to, table, after, ct, sizer.InlineRows, sizer.Rows > ChunkSizer.InlineMaxRows, others);
            // A truncate of the table while it was held comes with it (applied with its first chunk, as a batch's is).
            plan = plan with { Truncates = plan.Truncates.Where(t => t.Table == hold.Table).ToList(), StartsBatch = after is null };
            var chunk = Chunk.Plan(plan, sizer.Rows, sizer.MaxBytes, sizer.BytesPerRow, sizer.MinRows);
            InFlightRows = chunk.Rows;
            _direct = [];
            await CopyChunkAsync(plan, chunk, sizer, ct);
            if (!chunk.EndsBatch) _reader.EndWithNextBegin();
            var applying = _applier.ApplyAsync(plan, chunk, p, ct, held: held, catchUp: hold.Table);
            await Task.WhenAll(applying, chunk.EndsBatch ? _reader.EndAsync(ct) : Task.CompletedTask);
            InFlightRows = 0;
            ChunksCommitted++;
            rows += chunk.Rows;
            chunks++;
            if (chunk.EndsBatch) return (rows, chunks);
            after = applying.Result;
            hold = hold with { ResumeTo = to, ResumeAfterKey = after };
            _holds[table] = hold;
        }
    }
}
