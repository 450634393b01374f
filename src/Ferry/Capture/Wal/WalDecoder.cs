using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;

namespace Ferry.Capture.Wal;

/// <summary>
/// Turns pgoutput's messages into committed <see cref="WalTransaction"/>s: the keys of the herds' tables each change
/// touched (an update whose key changed touches the old key too: a delete plus an insert, as the triggers record it),
/// and truncates. A transaction that carries ferry's marker (<see cref="WalMarker"/>) is ferry's own apply: its
/// changes are already recorded with their origin, and are dropped (no echo).
/// </summary>
public sealed class WalDecoder(IReadOnlyDictionary<TableName, IReadOnlyList<string>> keys, string marker)
{
    private List<WalChange>? _changes;
    private DateTime _commitTime;
    private bool _ferrys;
    private uint _xid;

    /// <summary>Returns the transaction a commit ends, or null (other messages, ferry's own or untouched transactions).</summary>
    public async Task<WalTransaction?> HandleAsync(PgOutputReplicationMessage message, CancellationToken ct)
    {
        switch (message)
        {
            case BeginMessage b:
                _changes = [];
                _commitTime = b.TransactionCommitTimestamp;
                _ferrys = false;
                _xid = b.TransactionXid;
                return null;
            case LogicalDecodingMessage m when m.Prefix == WalMarker.Prefix:
                using (var reader = new StreamReader(m.Data))
                    _ferrys |= await reader.ReadToEndAsync(ct) == marker;
                return null;
            case InsertMessage i:
                await AddAsync(i.Relation, i.NewRow, ct);
                return null;
            case FullUpdateMessage f:
                await AddAsync(f.Relation, f.OldRow, ct);
                await AddAsync(f.Relation, f.NewRow, ct);
                return null;
            case IndexUpdateMessage k:
                await AddAsync(k.Relation, k.Key, ct);
                await AddAsync(k.Relation, k.NewRow, ct);
                return null;
            case UpdateMessage u:
                await AddAsync(u.Relation, u.NewRow, ct);
                return null;
            case KeyDeleteMessage d:
                await AddAsync(d.Relation, d.Key, ct);
                return null;
            case FullDeleteMessage d:
                await AddAsync(d.Relation, d.OldRow, ct);
                return null;
            case TruncateMessage t:
                foreach (var r in t.Relations)
                    if (Herd(r) is { } table) _changes?.Add(new WalChange(table, null));
                return null;
            case CommitMessage c:
                var changes = _changes;
                _changes = null;
                if (changes is null || changes.Count == 0 || _ferrys) return null;
                return new WalTransaction { EndLsn = c.TransactionEndLsn, CommitTime = _commitTime, Changes = changes, Xid = _xid };
            default:
                return null;
        }
    }

    private TableName? Herd(RelationMessage r)
    {
        var name = new TableName(r.Namespace, r.RelationName);
        return keys.ContainsKey(name) ? name : null;
    }

    private async Task AddAsync(RelationMessage relation, ReplicationTuple tuple, CancellationToken ct)
    {
        if (Herd(relation) is not { } table || _changes is null) return;
        var keyColumns = keys[table];
        var key = new string[keyColumns.Count];
        var i = 0;
        await foreach (var value in tuple.WithCancellation(ct))
        {
            var at = IndexOf(keyColumns, relation.Columns[i++].ColumnName);
            if (at < 0) continue;
            if (value.IsUnchangedToastedValue || value.IsDBNull)
                throw new FerryException($"The WAL gave no value for key column {keyColumns[at]} of {table} (a TOASTed key " +
                                         "unchanged by an update): as the table's owner, run ALTER TABLE " +
                                         $"{Postgres.Quote.Qualified(table)} REPLICA IDENTITY FULL;");
            key[at] = await value.Get<string>(ct);
        }
        _changes.Add(new WalChange(table, key));
    }

    private static int IndexOf(IReadOnlyList<string> columns, string name)
    {
        for (var i = 0; i < columns.Count; i++)
            if (columns[i] == name) return i;
        return -1;
    }
}
