using System.Text.RegularExpressions;
using Ferry.ControlStore;
using Ferry.Postgres;
using Npgsql;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry ddl SYNC "ALTER TABLE …" [as=USER] [dbs=DB,…]`: runs one schema change on every database of a sync, one
/// transaction per database, back to back, in the order that holds tables least. A replica that no pair reads from
/// may have columns its sources lack, so an ADD COLUMN goes to such replicas first (no hold at all there) and a DROP
/// COLUMN to them last; between the masters a hold cannot be avoided (PairRunner.Holds), and running them back to back
/// keeps it to the time the statements take. Ferry's role does not own the tables, so the statement runs as the user
/// named by as= (its password from ~/.pgpass or PGPASSWORD: never on the command line).
/// </summary>
public static partial class DdlCommand
{
    private const string Usage = "ferry ddl SYNC \"ALTER TABLE …\" [as=USER] [dbs=DB,…]";

    public static async Task<int> RunAsync(BucardoArguments args, CancellationToken ct)
    {
        var user = args.Get("as");
        var only = args.Get("dbs");
        // A statement with '=' in it (a CHECK, a DEFAULT) reads as key=value: put it back together.
        var glued = args.Pairs.Where(p => p.Key.Any(char.IsWhiteSpace)).ToList();
        args.RejectUnknown("ddl", glued.Select(p => p.Key));
        var words = args.Words.Concat(glued.Select(p => p.Key + "=" + p.Value)).ToList();
        if (words.Count != 2) throw new UsageException("Give the sync and one statement, quoted: " + Usage);
        var sql = words[1];
        using var store = await Store.OpenAsync(Defaults.StorePath, ct);
        var sync = await store.GetSyncAsync(words[0], ct);
        var group = await store.GetDbGroupAsync(sync.DbGroup, ct);
        var readFrom = (await store.ListSyncGroupsAsync(ct)).SelectMany(s => Sync.PairsOf(s.Sync, s.Group)).Select(p => p.Source).ToHashSet();
        var members = group.Members.Select(m => m.Database).ToList();
        if (only is not null)
        {
            var chosen = only.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
            if (chosen.FirstOrDefault(d => !members.Contains(d)) is { } stranger)
                throw new UsageException($"{stranger} is not a database of sync {sync.Name}: dbs= takes some of {string.Join(", ", members)}.");
            members = members.Where(chosen.Contains).ToList();
        }
        var replicas = members.Where(m => !readFrom.Contains(m)).ToList();
        var masters = members.Where(readFrom.Contains).ToList();
        var dropping = DropColumn().IsMatch(sql);
        var order = dropping ? masters.Concat(replicas).ToList() : replicas.Concat(masters).ToList();
        Output.Line($"Order: {string.Join(", ", order)} ({(dropping ? "masters first: a replica may keep a column its masters dropped" : "replicas first: a replica may have a column its masters do not have yet")}).");

        var done = new List<string>();
        var retry = Output.Retry();
        foreach (var name in order)
        {
            var db = await store.GetDatabaseAsync(name, ct);
            if (user is not null)
                db = db with { Settings = new Dictionary<string, string>(db.Settings) { ["user"] = user }, Password = null };
            try
            {
                // Until COMMIT is sent, a link failure rolls the statement back and it runs again; a failure during
                // COMMIT leaves unknown whether it took effect, and the user's statement need not be repeatable: say so.
                await retry.RunAsync(db, async token =>
                {
                    await using var c = await Connect.OpenAsync(db, token, "ferry ddl", userSession: true);
                    await using var tx = await c.BeginTransactionAsync(token);
                    await using (var cmd = new NpgsqlCommand(sql, c, tx)) await cmd.ExecuteNonQueryAsync(token);
                    try
                    {
                        await tx.CommitAsync(token);
                    }
                    catch (Exception e) when (PgErrors.IsTransient(e))
                    {
                        throw new FerryException($"The link to {db.Describe()} broke while the statement committed there, so whether " +
                                                 $"it took effect is unknown ({e.Message.TrimEnd('.')}). Look there (\\d TABLE in psql) " +
                                                 "before running it again.");
                    }
                }, ct);
            }
            catch (Exception e) when (e is PostgresException or NpgsqlException or FerryException)
            {
                var message = e is FerryException ? e.Message : PgErrors.Explain(db, e);
                var rest = order.Except(done).ToList();
                throw new FerryException($"{message}{Environment.NewLine}Done on: {(done.Count == 0 ? "none" : string.Join(", ", done))}; " +
                                         $"not on: {string.Join(", ", rest)}. Tables whose columns now differ are held on the pairs " +
                                         $"concerned (nothing is lost): fix the cause, then run it on the rest: ferry ddl {sync.Name} " +
                                         $"\"…\" dbs={string.Join(",", rest)}{(user is null ? " as=OWNER (the tables' owner, or a member of its role)" : $" as={user}")}.");
            }
            done.Add(name);
            Output.Line($"{name}: done");
        }
        if (await RelayProcess.FindAsync(ct) is { Starting: false } relay) await relay.SendAsync(HttpMethod.Post, "/kick?sync=" + Uri.EscapeDataString(sync.Name), ct);
        Output.Line($"Ran on {string.Join(", ", done)}. Tables held meanwhile resume by themselves; ferry status shows any still held.");
        return 0;
    }

    [GeneratedRegex(@"\bDROP\s+(COLUMN\b|(?!CONSTRAINT|DEFAULT|NOT|EXPRESSION|IDENTITY)\w)", RegexOptions.IgnoreCase)]
    private static partial Regex DropColumn();
}
