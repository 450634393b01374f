using Ferry.Install;
using Ferry.Postgres;
using Npgsql;
using NpgsqlTypes;

namespace Ferry.Capture.Wal;

/// <summary>
/// Writes decoded transactions into the change logs, several at once, in one transaction that also moves
/// <c>ferry.wal_position</c> compare-and-set from where this writer last left it: a transaction at or below the
/// recorded position was logged before (the relay died before the slot heard of it) and is skipped, and a second
/// relay writing the same slot fails instead of logging twice.
/// </summary>
public sealed class WalLogWriter
{
    private readonly NpgsqlConnection _c;
    private readonly string _slot;
    private readonly Dictionary<TableName, (string Log, string Fold, string Truncate)> _sql = [];

    public NpgsqlLogSequenceNumber Written { get; private set; }

    private WalLogWriter(NpgsqlConnection c, string slot)
    {
        _c = c;
        _slot = slot;
    }

    public static async Task<WalLogWriter> OpenAsync(NpgsqlConnection c, string slot, IEnumerable<TableShape> shapes, CancellationToken ct)
    {
        var w = new WalLogWriter(c, slot);
        foreach (var shape in shapes)
        {
            var names = new CaptureNames(shape.Name);
            var keys = shape.KeyColumns.ToList();
            var aliases = keys.Select((_, i) => "k" + i).ToList();
            var log = SqlResources.Fill(SqlResources.Read("wal_log.sql"), new Dictionary<string, string>
            {
                ["log"] = names.Log,
                ["key_cols"] = Quote.List(shape.Key),
                ["key_casts"] = string.Join(", ", keys.Select((k, i) => $"CAST(k.{aliases[i]} AS {k.VersionType})")),
                ["arrays"] = string.Join(", ", keys.Select((_, i) => $"${i + 1}::text[]").Append($"${keys.Count + 1}::timestamptz[]")),
                ["aliases"] = string.Join(", ", aliases),
            });
            var truncate = SqlResources.Fill(SqlResources.Read("wal_truncate.sql"), new Dictionary<string, string>
            {
                ["rv"] = names.RowVersions,
            });
            w._sql[shape.Name] = (log, "SELECT " + ChangeLog.Folds([shape.Name], limited: false).Single(), truncate);
        }
        await using (var cmd = new NpgsqlCommand(
            "INSERT INTO ferry.wal_position (slot_name, commit_lsn) VALUES ($1, '0/0') ON CONFLICT (slot_name) DO NOTHING", c))
        {
            cmd.Parameters.AddWithValue(slot);
            await cmd.ExecuteNonQueryAsync(ct);
        }
        await using (var cmd = new NpgsqlCommand("SELECT commit_lsn FROM ferry.wal_position WHERE slot_name = $1", c))
        {
            cmd.Parameters.AddWithValue(slot);
            w.Written = (NpgsqlLogSequenceNumber)(await cmd.ExecuteScalarAsync(ct))!;
        }
        return w;
    }

    /// <summary>Whether every xid in $1 (32-bit, as the slot gives them, in a bigint[]) is visible to a new snapshot.</summary>
    public const string VisibleSql = """
        SELECT bool_and(pg_visible_in_snapshot((w.x + CASE WHEN w.x > s.m + 2147483648 THEN -4294967296
                                                          WHEN w.x < s.m - 2147483648 THEN 4294967296 ELSE 0 END)::text::xid8, s.snap))
        FROM (SELECT snap, pg_snapshot_xmax(snap)::text::bigint AS m FROM pg_current_snapshot() AS snap) AS s,
             LATERAL (SELECT (s.m / 4294967296) * 4294967296 + x AS x FROM unnest($1::bigint[]) AS x) AS w
        """;

    /// <summary>
    /// Waits until the transactions are visible to new snapshots. Their commit record is flushed, and so decoded and
    /// sent, before the committing backend leaves the proc array; logged and folded in that gap, a key's entry would be
    /// read by a pair whose snapshot does not yet see the row (an insert missed, an update read as its old content)
    /// and the pair's position would pass it for good. Seen on a loaded machine as rows that never arrived.
    /// <para>
    /// Visible means what a reader's snapshot makes of it (pg_visible_in_snapshot), not "absent from the snapshot's
    /// xip": a snapshot lists only running xids below its xmax, and a committing transaction that holds the newest xid
    /// (often so under single-row writes: none with a higher xid has ended yet) is at or above xmax until it leaves the proc array, so it was never
    /// listed and the wait passed at once. The slot gives 32-bit xids; each is widened to the epoch nearest xmax.
    /// </para>
    /// </summary>
    private async Task VisibleAsync(List<WalTransaction> transactions, CancellationToken ct)
    {
        var xids = transactions.Select(t => (long)t.Xid).Distinct().ToArray();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        await using var cmd = new NpgsqlCommand(VisibleSql, _c);
        cmd.Parameters.AddWithValue(xids);
        while (!(bool)(await cmd.ExecuteScalarAsync(ct))!)
        {
            if (DateTime.UtcNow > deadline)
                throw new FerryException("WAL capture: transactions decoded from the slot are still not visible after 10 s; reading the slot again.");
            await Task.Delay(1, ct);
        }
    }

    /// <summary>Logs the transactions not logged yet; returns false when all of them were.</summary>
    public async Task<bool> WriteAsync(IReadOnlyList<WalTransaction> transactions, CancellationToken ct)
    {
        var fresh = transactions.Where(t => t.EndLsn > Written && t.Changes.Count > 0).ToList();
        if (fresh.Count == 0) return false;
        await VisibleAsync(fresh, ct);
        var upTo = fresh[^1].EndLsn;
        await using var batch = new NpgsqlBatch(_c);
        var move = new NpgsqlBatchCommand("""
            WITH moved AS (
                UPDATE ferry.wal_position SET commit_lsn = $2 WHERE slot_name = $1 AND commit_lsn = $3 RETURNING 1)
            SELECT ferry.fail('another ferry relay is capturing this database from the same slot: stop it') WHERE NOT EXISTS (SELECT FROM moved)
            """);
        move.Parameters.AddWithValue(_slot);
        move.Parameters.AddWithValue(NpgsqlDbType.PgLsn, upTo);
        move.Parameters.AddWithValue(NpgsqlDbType.PgLsn, Written);
        batch.BatchCommands.Add(move);
        // Keys of a table in order, up to its next truncate, which folds them first.
        var pending = new Dictionary<TableName, (List<string[]> Keys, List<DateTime> Times)>();
        void Flush(TableName t)
        {
            if (!pending.Remove(t, out var p) || p.Keys.Count == 0) return;
            var insert = new NpgsqlBatchCommand(_sql[t].Log);
            for (var k = 0; k < p.Keys[0].Length; k++)
                insert.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = p.Keys.Select(key => key[k]).ToArray() });
            insert.Parameters.Add(new NpgsqlParameter<DateTime[]> { TypedValue = p.Times.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
            batch.BatchCommands.Add(insert);
        }
        foreach (var tx in fresh)
            foreach (var change in tx.Changes)
            {
                if (change.Key is null)
                {
                    Flush(change.Table);
                    batch.BatchCommands.Add(new NpgsqlBatchCommand(_sql[change.Table].Fold));
                    var truncate = new NpgsqlBatchCommand(_sql[change.Table].Truncate);
                    truncate.Parameters.AddWithValue(change.Table.Schema);
                    truncate.Parameters.AddWithValue(change.Table.Name);
                    truncate.Parameters.AddWithValue(NpgsqlDbType.TimestampTz, tx.CommitTime);
                    batch.BatchCommands.Add(truncate);
                    continue;
                }
                if (!pending.TryGetValue(change.Table, out var p)) pending[change.Table] = p = ([], []);
                p.Keys.Add(change.Key);
                p.Times.Add(tx.CommitTime);
            }
        foreach (var t in pending.Keys.ToList()) Flush(t);
        await using var transaction = await _c.BeginTransactionAsync(ct);
        await batch.ExecuteNonQueryAsync(ct);
        await transaction.CommitAsync(ct);
        Written = upTo;
        return true;
    }
}
