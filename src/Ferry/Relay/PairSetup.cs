using Ferry.Apply;
using Ferry.Install;
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

    public async Task<(IReadOnlyList<ReadSql> Read, IReadOnlyList<ApplySql> Apply)> BuildAsync(
        NpgsqlConnection source, NpgsqlConnection target, CancellationToken ct)
    {
        var ordered = await ForeignKeyOrder.SortAsync(target, Herd.Tables, ct);
        var read = new List<ReadSql>();
        var apply = new List<ApplySql>();
        for (var i = 0; i < ordered.Count; i++)
        {
            var table = ordered[i];
            var s = await TableCatalog.ReadAsync(source, table, ct);
            var t = await TableCatalog.ReadAsync(target, table, ct);
            if (s is null) throw new FerryException(TableGone.Message(table, Source.Name));
            if (t is null) throw new FerryException(TableGone.Message(table, Target.Name));
            var problems = ShapeCheck.Problems(Source.Name, s, Target.Name, t);
            if (problems.Count > 0) throw new FerryException(string.Join(Environment.NewLine, problems));
            read.Add(new ReadSql(s));
            // The source's columns, by name, in its order: what the read sends; the target may hold them in another.
            apply.Add(new ApplySql(t!.Carrying(s), i, Herd.RuleFor(table, Sync.ConflictRule)));
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
        return (read, apply);
    }
}
