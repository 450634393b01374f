using Ferry.Apply;
using Ferry.Install;
using Ferry.Postgres;
using Ferry.Read;
using Npgsql;

namespace Ferry.Relay;

/// <summary>
/// What a pair needs to run, derived from the configuration and both catalogs when it connects: the tables in
/// foreign-key order (parents first), each table's read and apply SQL, and the origins it must not forward.
/// </summary>
public sealed record PairSetup(Pair Pair, Sync Sync, DbGroup Group, Herd Herd, Database Source, Database Target)
{
    /// <summary>
    /// Changes that came from another source of this sync are delivered by that source itself, and a change is
    /// never sent back where it came from: no echo, no loop, whatever the topology.
    /// </summary>
    public string[] SkipOrigins => Group.Sources.Where(s => s != Pair.Source).Append(Pair.Target).Distinct().ToArray();

    public string[] Order => Group.Members.Select(m => m.Database).ToArray();

    /// <summary>
    /// False when the target is a plain target (<see cref="PlainTargets"/>): its apply neither looks up nor writes
    /// row versions. True, the safe side, unless the caller knows the whole configuration.
    /// </summary>
    public bool TargetKeepsVersions { get; init; } = true;

    /// <summary>
    /// Whether some pair reads from the target (it is a source of this sync or another): then a column only it has
    /// holds the table, as a column only the source has does (<see cref="SchemaAgreement"/>). True, the safe side,
    /// unless the caller knows the whole configuration.
    /// </summary>
    public bool TargetIsRead { get; init; } = true;

    public async Task<PairTables> BuildAsync(NpgsqlConnection source, NpgsqlConnection target, CancellationToken ct)
    {
        var ordered = await ForeignKeyOrder.SortAsync(target, Herd.Tables, ct);
        // Fingerprints first, catalogs after: a change in between makes the next check see a difference and read them
        // again, never pass over one.
        var names = ordered.Select(Quote.Qualified).ToArray();
        var sourceShapes = await PairTables.ShapesAsync(source, names, ct);
        var targetShapes = await PairTables.ShapesAsync(target, names, ct);
        var read = new List<ReadSql>();
        var apply = new List<ApplySql>();
        var disagreements = new List<Disagreement?>();
        for (var i = 0; i < ordered.Count; i++)
        {
            var table = ordered[i];
            var s = await TableCatalog.ReadAsync(source, table, ct);
            var t = await TableCatalog.ReadAsync(target, table, ct);
            if (s is null && t is null)
                throw new FerryException(TableGone.Message(table, $"{Source.Name} and {Target.Name}"));
            var disagreement = SchemaAgreement.Check(Source.Name, s, Target.Name, t, TargetIsRead, table);
            disagreements.Add(disagreement);
            // A held table's SQL is never run: built from whichever end has it, it only keeps the positions in line.
            read.Add(new ReadSql(s ?? t!));
            apply.Add(new ApplySql(disagreement is null ? SchemaAgreement.Common(s!, t!) : t ?? s!, i,
                Herd.RuleFor(table, Sync.ConflictRule)));
        }
        // Row-level security turned on after add sync would hide rows from this pair without an error.
        await RowSecurity.ThrowIfHiddenAsync(source, Source.Name, Herd.Tables, ct);
        await RowSecurity.ThrowIfHiddenAsync(target, Target.Name, Herd.Tables, ct);
        // Foreign keys between tables of the herd, as the target has them: the target is where they fire.
        for (var i = 0; i < ordered.Count; i++)
            foreach (var fk in await TableCatalog.ForeignKeysFromAsync(target, ordered[i], ct))
            {
                var parent = ordered.ToList().IndexOf(fk.Parent);
                if (parent < 0) continue;
                apply[i].ForeignKeys.Add((new ForeignKeySql(fk, apply[i], apply[parent]), parent));
            }
        return new PairTables(read, apply, disagreements, names, sourceShapes, targetShapes);
    }
}

/// <summary>
/// A pair's tables as both ends had them when it connected: read and apply SQL per table (parents first), why each
/// that cannot flow cannot, and both ends' column fingerprints, which every read and every apply compare again.
/// </summary>
public sealed record PairTables(IReadOnlyList<ReadSql> Read, IReadOnlyList<ApplySql> Apply, IReadOnlyList<Disagreement?> Disagreements,
    string[] Names, string[] SourceShapes, string[] TargetShapes)
{
    public static async Task<string[]> ShapesAsync(NpgsqlConnection c, string[] names, CancellationToken ct, int? timeoutSeconds = null)
    {
        await using var cmd = new NpgsqlCommand("SELECT ferry.shapes($1::text[])", c);
        if (timeoutSeconds is { } seconds) cmd.CommandTimeout = seconds;
        cmd.Parameters.AddWithValue(names);
        return (string[])(await cmd.ExecuteScalarAsync(ct))!;
    }
}
