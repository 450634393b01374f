using Ferry.Resolve;
using System.Data.Common;

namespace Ferry.ControlStore;

/// <summary>Configuration: the vocabulary of DESIGN.md, one table each.</summary>
public sealed partial class Store
{
    public async Task AddDatabaseAsync(Database db, CancellationToken ct)
    {
        if (await FindDatabaseAsync(db.Name, ct) is not null)
            throw new FerryException($"Database '{db.Name}' already exists. Remove it first: ferry remove database {db.Name}");
        await ExecuteAsync("INSERT INTO databases (name, settings, password, added_at) VALUES ($n, $s, $p, $t)", ct,
            ("$n", db.Name), ("$s", ToJson(db.Settings)), ("$p", db.Password), ("$t", Now()));
    }

    /// <summary>Points a database at a new address (or user, password, TLS); every dbgroup and sync keeps using it.</summary>
    public async Task UpdateDatabaseAsync(Database db, CancellationToken ct)
    {
        await GetDatabaseAsync(db.Name, ct);
        await ExecuteAsync("UPDATE databases SET settings = $s, password = $p WHERE name = $n", ct,
            ("$n", db.Name), ("$s", ToJson(db.Settings)), ("$p", db.Password));
    }

    public async Task<Database?> FindDatabaseAsync(string name, CancellationToken ct) =>
        (await QueryAsync("SELECT name, settings, password FROM databases WHERE name = $n",
            r => new Database(r.GetString(0), FromJson(r.GetString(1)), r.IsDBNull(2) ? null : r.GetString(2)), ct,
            ("$n", name))).SingleOrDefault();

    public async Task<Database> GetDatabaseAsync(string name, CancellationToken ct) =>
        await FindDatabaseAsync(name, ct) ?? throw new FerryException(
            $"Unknown database '{name}'. Add it with: ferry add database {name} dbname=... host=... user=...");

    public Task<List<Database>> ListDatabasesAsync(CancellationToken ct) =>
        QueryAsync("SELECT name, settings, password FROM databases ORDER BY added_at, name",
            r => new Database(r.GetString(0), FromJson(r.GetString(1)), r.IsDBNull(2) ? null : r.GetString(2)), ct);

    public async Task AddDbGroupAsync(DbGroup group, CancellationToken ct)
    {
        if (await FindDbGroupAsync(group.Name, ct) is not null)
            throw new FerryException($"Dbgroup '{group.Name}' already exists. Remove it first: ferry remove dbgroup {group.Name}");
        foreach (var member in group.Members) await GetDatabaseAsync(member.Database, ct);
        await InTransactionAsync(async tx =>
        {
            await Run(tx, "INSERT INTO dbgroups (name) VALUES ($n)", ("$n", group.Name));
            var position = 0;
            foreach (var m in group.Members)
                await Run(tx, "INSERT INTO dbgroup_members (dbgroup, database, role, position) VALUES ($g, $d, $r, $p)",
                    ("$g", group.Name), ("$d", m.Database), ("$r", m.Role == Role.Source ? "source" : "target"), ("$p", position++));
        }, ct);
    }

    public async Task<DbGroup?> FindDbGroupAsync(string name, CancellationToken ct)
    {
        var exists = await QueryAsync("SELECT 1 FROM dbgroups WHERE name = $n", _ => 1, ct, ("$n", name));
        if (exists.Count == 0) return null;
        var members = await QueryAsync(
            "SELECT database, role FROM dbgroup_members WHERE dbgroup = $n ORDER BY position",
            r => new DbGroupMember(r.GetString(0), r.GetString(1) == "source" ? Role.Source : Role.Target), ct, ("$n", name));
        return new DbGroup(name, members);
    }

    public async Task<DbGroup> GetDbGroupAsync(string name, CancellationToken ct) =>
        await FindDbGroupAsync(name, ct) ?? throw new FerryException(
            $"Unknown dbgroup '{name}'. Add it with: ferry add dbgroup {name} db1:source db2:target");

    /// <summary>
    /// Every dbgroup in two queries, whatever their number: each relay reads the configuration on every heartbeat, and on
    /// a PostgreSQL store a query per dbgroup waited behind the pairs' status writes for a pooled connection, long
    /// enough with 50 syncs on a loaded host for the heartbeat to miss its lease renewal.
    /// </summary>
    public async Task<List<DbGroup>> ListDbGroupsAsync(CancellationToken ct)
    {
        var names = await QueryAsync("SELECT name FROM dbgroups ORDER BY name", r => r.GetString(0), ct);
        var members = (await QueryAsync("SELECT dbgroup, database, role FROM dbgroup_members ORDER BY dbgroup, position",
                r => (Group: r.GetString(0), Member: new DbGroupMember(r.GetString(1), r.GetString(2) == "source" ? Role.Source : Role.Target)), ct))
            .ToLookup(m => m.Group, m => m.Member);
        return names.Select(n => new DbGroup(n, members[n].ToList())).ToList();
    }

    /// <summary>Adds tables to a herd, creating the herd if needed; tables already in it are left as they are.</summary>
    public async Task<int> AddToHerdAsync(string herd, IEnumerable<TableName> tables, CancellationToken ct)
    {
        var added = 0;
        await InTransactionAsync(async tx =>
        {
            added = 0;
            await Run(tx, "INSERT INTO herds (name) VALUES ($n) ON CONFLICT DO NOTHING", ("$n", herd));
            foreach (var t in tables)
                added += await Run(tx,
                    "INSERT INTO herd_tables (herd, schema_name, table_name, position) " +
                    "VALUES ($h, $s, $t, (SELECT coalesce(max(position), 0) + 1 FROM herd_tables WHERE herd = $h)) ON CONFLICT DO NOTHING",
                    ("$h", herd), ("$s", t.Schema), ("$t", t.Name));
        }, ct);
        return added;
    }

    /// <summary>Adds sequences to a herd, creating the herd if needed; sequences already in it are left as they are.</summary>
    public async Task<int> AddSequencesToHerdAsync(string herd, IEnumerable<TableName> sequences, CancellationToken ct)
    {
        var added = 0;
        await InTransactionAsync(async tx =>
        {
            added = 0;
            await Run(tx, "INSERT INTO herds (name) VALUES ($n) ON CONFLICT DO NOTHING", ("$n", herd));
            foreach (var s in sequences)
                added += await Run(tx,
                    "INSERT INTO herd_sequences (herd, schema_name, sequence_name, position) " +
                    "VALUES ($h, $s, $q, (SELECT coalesce(max(position), 0) + 1 FROM herd_sequences WHERE herd = $h)) ON CONFLICT DO NOTHING",
                    ("$h", herd), ("$s", s.Schema), ("$q", s.Name));
        }, ct);
        return added;
    }

    /// <summary>Sets (or, with null, clears) a table's own conflict rule within a herd.</summary>
    public Task SetTableRuleAsync(string herd, TableName table, ConflictRule? rule, CancellationToken ct) =>
        ExecuteAsync("UPDATE herd_tables SET conflict_rule = $r WHERE herd = $h AND schema_name = $s AND table_name = $t", ct,
            ("$r", rule?.Name()), ("$h", herd), ("$s", table.Schema), ("$t", table.Name));

    public async Task<Herd?> FindHerdAsync(string name, CancellationToken ct)
    {
        var exists = await QueryAsync("SELECT 1 FROM herds WHERE name = $n", _ => 1, ct, ("$n", name));
        if (exists.Count == 0) return null;
        var rows = await QueryAsync("SELECT schema_name, table_name, conflict_rule FROM herd_tables WHERE herd = $n ORDER BY position",
            r => (Table: new TableName(r.GetString(0), r.GetString(1)), Rule: r.IsDBNull(2) ? null : r.GetString(2)), ct, ("$n", name));
        var sequences = await QueryAsync(
            "SELECT schema_name, sequence_name FROM herd_sequences WHERE herd = $n ORDER BY position",
            r => new TableName(r.GetString(0), r.GetString(1)), ct, ("$n", name));
        return new Herd(name, rows.Select(r => r.Table).ToList())
        {
            Rules = rows.Where(r => r.Rule is not null).ToDictionary(r => r.Table, r => Rule(r.Rule!)),
            Sequences = sequences,
        };
    }

    public async Task<Herd> GetHerdAsync(string name, CancellationToken ct) =>
        await FindHerdAsync(name, ct) ?? throw new FerryException(
            $"Unknown herd '{name}'. Add tables to it with: ferry add all tables herd={name}");

    /// <summary>Every herd in three queries, whatever their number (see <see cref="ListDbGroupsAsync"/>).</summary>
    public async Task<List<Herd>> ListHerdsAsync(CancellationToken ct)
    {
        var names = await QueryAsync("SELECT name FROM herds ORDER BY name", r => r.GetString(0), ct);
        var tables = (await QueryAsync("SELECT herd, schema_name, table_name, conflict_rule FROM herd_tables ORDER BY herd, position",
                r => (Herd: r.GetString(0), Table: new TableName(r.GetString(1), r.GetString(2)), Rule: r.IsDBNull(3) ? null : r.GetString(3)), ct))
            .ToLookup(t => t.Herd);
        var sequences = (await QueryAsync("SELECT herd, schema_name, sequence_name FROM herd_sequences ORDER BY herd, position",
                r => (Herd: r.GetString(0), Sequence: new TableName(r.GetString(1), r.GetString(2))), ct))
            .ToLookup(q => q.Herd, q => q.Sequence);
        return names.Select(n => new Herd(n, tables[n].Select(t => t.Table).ToList())
        {
            Rules = tables[n].Where(t => t.Rule is not null).ToDictionary(t => t.Table, t => Rule(t.Rule!)),
            Sequences = sequences[n].ToList(),
        }).ToList();
    }

    public async Task AddSyncAsync(Sync sync, CancellationToken ct)
    {
        if (await FindSyncAsync(sync.Name, ct) is not null)
            throw new FerryException($"Sync '{sync.Name}' already exists. Remove it first: ferry remove sync {sync.Name}");
        await ExecuteAsync("INSERT INTO syncs (name, herd, dbgroup, conflict_rule, active) VALUES ($n, $h, $g, $r, $a)", ct,
            ("$n", sync.Name), ("$h", sync.Herd), ("$g", sync.DbGroup), ("$r", sync.ConflictRule.Name()), ("$a", sync.Active ? 1 : 0));
    }

    /// <summary>Changes what may change of a sync without reinstalling anything: its rule and whether it runs.</summary>
    public async Task UpdateSyncAsync(Sync sync, CancellationToken ct)
    {
        await GetSyncAsync(sync.Name, ct);
        await ExecuteAsync("UPDATE syncs SET conflict_rule = $r, active = $a WHERE name = $n", ct,
            ("$n", sync.Name), ("$r", sync.ConflictRule.Name()), ("$a", sync.Active ? 1 : 0));
    }

    public async Task<Sync?> FindSyncAsync(string name, CancellationToken ct) =>
        (await QueryAsync("SELECT name, herd, dbgroup, conflict_rule, active FROM syncs WHERE name = $n", MapSync, ct,
            ("$n", name))).SingleOrDefault();

    public async Task<Sync> GetSyncAsync(string name, CancellationToken ct) =>
        await FindSyncAsync(name, ct) ?? throw new FerryException(
            $"Unknown sync '{name}'. See the syncs with: ferry list syncs");

    /// <summary>The databases whose pairs keep no row versions there (<see cref="PlainTargets"/>), from every sync.</summary>
    public async Task<IReadOnlySet<string>> PlainTargetsAsync(CancellationToken ct) => PlainTargets.Of(await ListSyncGroupsAsync(ct));

    /// <summary>Every sync with its dbgroup: what decides where capture goes and which targets are plain.</summary>
    public async Task<List<(Sync Sync, DbGroup Group)>> ListSyncGroupsAsync(CancellationToken ct)
    {
        var groups = (await ListDbGroupsAsync(ct)).ToDictionary(g => g.Name);
        var syncs = new List<(Sync, DbGroup)>();
        foreach (var sync in await ListSyncsAsync(ct))
            syncs.Add((sync, groups.TryGetValue(sync.DbGroup, out var g) ? g : await GetDbGroupAsync(sync.DbGroup, ct)));
        return syncs;
    }

    public Task<List<Sync>> ListSyncsAsync(CancellationToken ct) =>
        QueryAsync("SELECT name, herd, dbgroup, conflict_rule, active FROM syncs ORDER BY name", MapSync, ct);

    private static Sync MapSync(DbDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), Rule(r.GetString(3)), r.GetInt64(4) != 0);

    /// <summary>Removes one configuration object; refuses while something still uses it, and names what.</summary>
    public async Task RemoveAsync(string kind, string name, CancellationToken ct)
    {
        switch (kind)
        {
            case "database":
                await GetDatabaseAsync(name, ct);
                await RefuseIfUsed("SELECT dbgroup FROM dbgroup_members WHERE database = $n", "dbgroup", name, ct);
                await ExecuteAsync("DELETE FROM databases WHERE name = $n", ct, ("$n", name));
                await ExecuteAsync("DELETE FROM database_status WHERE name = $n", ct, ("$n", name));
                break;
            case "dbgroup":
                await GetDbGroupAsync(name, ct);
                await RefuseIfUsed("SELECT name FROM syncs WHERE dbgroup = $n", "sync", name, ct);
                await ExecuteAsync("DELETE FROM dbgroups WHERE name = $n", ct, ("$n", name));
                break;
            case "herd":
                await GetHerdAsync(name, ct);
                await RefuseIfUsed("SELECT name FROM syncs WHERE herd = $n", "sync", name, ct);
                await ExecuteAsync("DELETE FROM herds WHERE name = $n", ct, ("$n", name));
                break;
            case "sync":
                await GetSyncAsync(name, ct);
                await ExecuteAsync("DELETE FROM syncs WHERE name = $n", ct, ("$n", name));
                await ExecuteAsync("DELETE FROM pair_status WHERE sync = $n", ct, ("$n", name));
                await ExecuteAsync("DELETE FROM copies WHERE sync = $n", ct, ("$n", name));
                break;
            default:
                throw new FerryException($"Cannot remove '{kind}': use database, dbgroup, herd or sync.");
        }
    }

    private async Task RefuseIfUsed(string sql, string user, string name, CancellationToken ct)
    {
        var users = await QueryAsync(sql, r => r.GetString(0), ct, ("$n", name));
        if (users.Count > 0)
            throw new FerryException(
                $"'{name}' is still used by {user} {string.Join(", ", users)}. Remove that first: ferry remove {user} {users[0]}");
    }

    private async Task<int> Run(DbTransaction tx, string sql, params (string Name, object? Value)[] args)
    {
        await using var command = Command(tx, sql, args);
        return await command.ExecuteNonQueryAsync();
    }
}
