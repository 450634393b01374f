using Ferry.Postgres;
using Npgsql;

namespace Ferry.Install;

/// <summary>
/// Two masters drawing keys from their own copy of a sequence hand out the same values: every insert would then be
/// a conflict. The cure is interleaving — master k of n counts k, k+n, k+2n, … — which needs the sequence's owner,
/// not ferry's role; so ferry works out the exact statements, from the highest key in use anywhere, and prints them.
/// </summary>
public static class SequenceAdvice
{
    public sealed record KeySequence(TableName Table, string Column, string Sequence, bool Identity, long Increment);

    /// <summary>Key columns fed by a sequence (serial, identity or a nextval default).</summary>
    public static async Task<List<KeySequence>> FindAsync(NpgsqlConnection c, TableShape shape, CancellationToken ct)
    {
        var found = new List<KeySequence>();
        foreach (var key in shape.Key)
        {
            await using var cmd = new NpgsqlCommand("""
                SELECT format('%I.%I', n.nspname, c.relname), a.attidentity <> '', s.seqincrement
                FROM pg_attribute a
                JOIN pg_sequence s ON s.seqrelid = pg_get_serial_sequence($1, a.attname)::regclass
                JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE a.attrelid = to_regclass($1) AND a.attname = $2
                """, c);
            cmd.Parameters.AddWithValue(Quote.Qualified(shape.Name));
            cmd.Parameters.AddWithValue(key);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            if (await r.ReadAsync(ct))
                found.Add(new KeySequence(shape.Name, key, r.GetString(0), r.GetBoolean(1), r.GetInt64(2)));
        }
        return found;
    }

    /// <summary>
    /// The statements for source number <paramref name="k"/> (1-based) of <paramref name="n"/>: continue above
    /// <paramref name="highest"/>, the largest key in use on any database, on that source's own residue.
    /// </summary>
    public static string Statement(KeySequence s, int k, int n, long highest)
    {
        var start = highest + 1;
        start += ((k - start) % n + n) % n;
        return s.Identity
            ? $"ALTER TABLE {Quote.Qualified(s.Table)} ALTER COLUMN {Quote.Ident(s.Column)} SET INCREMENT BY {n} RESTART WITH {start};"
            : $"ALTER SEQUENCE {s.Sequence} INCREMENT BY {n} RESTART WITH {start};";
    }

    /// <summary>The largest value of a key column on one database (0 when empty).</summary>
    public static async Task<long> HighestAsync(NpgsqlConnection c, KeySequence s, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            $"SELECT coalesce(max({Quote.Ident(s.Column)})::bigint, 0) FROM {Quote.Qualified(s.Table)}", c);
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>
    /// Advice for a sync with several sources: per source database, the statements to run as the sequences' owner;
    /// empty when there is one source or every key sequence already steps by at least the number of sources.
    /// </summary>
    /// <param name="retry">each source is read alone, read only: a link failure reads it again</param>
    public static async Task<List<(string Database, string Sql)>> AdviseAsync(IReadOnlyList<Database> sources, Herd herd, LinkRetry retry,
        CancellationToken ct)
    {
        var advice = new List<(string, string)>();
        if (sources.Count < 2) return advice;
        var perDb = new List<(Database Db, List<KeySequence> Seqs)>();
        var highest = new Dictionary<(TableName, string), long>();
        foreach (var db in sources)
        {
            var seqs = await retry.RunAsync(db, async token =>
            {
                await using var c = await Connect.OpenAsync(db, token, "ferry advice");
                var found = new List<(KeySequence Seq, long Highest)>();
                foreach (var t in herd.Tables)
                {
                    if (await TableCatalog.ReadAsync(c, t, token) is not { } shape) continue;
                    foreach (var s in await FindAsync(c, shape, token)) found.Add((s, await HighestAsync(c, s, token)));
                }
                return found;
            }, ct);
            foreach (var (s, h) in seqs) highest[(s.Table, s.Column)] = Math.Max(highest.GetValueOrDefault((s.Table, s.Column)), h);
            perDb.Add((db, seqs.Select(x => x.Seq).ToList()));
        }
        if (!perDb.All(p => p.Seqs.All(s => s.Increment >= sources.Count)))
            for (var k = 0; k < perDb.Count; k++)
                foreach (var s in perDb[k].Seqs)
                    advice.Add((perDb[k].Db.Name, Statement(s, k + 1, sources.Count, highest[(s.Table, s.Column)])));
        // The herd's own sequences, unless judged above as a key's: format('%I.%I') parses back to the same name.
        var keyed = perDb.SelectMany(p => p.Seqs).Select(s => TableName.Parse(s.Sequence)).ToHashSet();
        advice.AddRange(await HerdAdviceAsync(sources, herd.Sequences.Where(s => !keyed.Contains(s)).ToList(), retry, ct));
        return advice;
    }

    /// <summary>
    /// For the herd's sequences: the relay carries each forward from every source, which keeps a master from
    /// handing out a value another master handed out before the last pass, not one handed out since. Two sources
    /// whose sequences count a + i·s and b + j·t (i, j ≥ 0, upwards) meet exactly when gcd(s, t) divides a − b; then
    /// ferry advises interleaving them, continuing above the highest value any source handed out. Descending
    /// sequences get no advice (they are rare; interleave them the same way, counting down).
    /// </summary>
    private static async Task<List<(string Database, string Sql)>> HerdAdviceAsync(IReadOnlyList<Database> sources,
        IReadOnlyList<TableName> sequences, LinkRetry retry, CancellationToken ct)
    {
        var advice = new List<(string, string)>();
        if (sequences.Count == 0) return advice;
        var next = new Dictionary<TableName, List<(System.Numerics.BigInteger Next, long Increment)>>();
        foreach (var db in sources)
        {
            var states = await retry.RunAsync(db, token => ReadSequencesAsync(db, sequences, token), ct);
            foreach (var (s, state) in states)
            {
                if (!next.TryGetValue(s, out var list)) next[s] = list = [];
                if (state is { } x) list.Add(x);
                else list.Clear(); // checked by add sync already; advice is a courtesy, never a failure
            }
        }
        foreach (var (s, states) in next)
        {
            if (states.Count != sources.Count || states.Any(x => x.Increment < 0) || !MayMeet(states)) continue;
            var highest = (long)states.Max(x => x.Next - x.Increment);
            for (var k = 0; k < sources.Count; k++)
            {
                var start = highest + 1;
                start += ((k + 1 - start) % sources.Count + sources.Count) % sources.Count;
                advice.Add((sources[k].Name, $"ALTER SEQUENCE {s} INCREMENT BY {sources.Count} RESTART WITH {start};"));
            }
        }
        return advice;
    }

    /// <returns>each sequence's next value and increment on one database; null where it cannot be read</returns>
    private static async Task<List<(TableName Sequence, (System.Numerics.BigInteger Next, long Increment)? State)>> ReadSequencesAsync(
        Database db, IReadOnlyList<TableName> sequences, CancellationToken ct)
    {
        var states = new List<(TableName, (System.Numerics.BigInteger, long)?)>();
        await using var c = await Connect.OpenAsync(db, ct, "ferry advice");
        foreach (var s in sequences)
        {
            await using var cmd = new NpgsqlCommand(
                $"SELECT t.last_value, t.is_called, p.seqincrement FROM {Quote.Qualified(s)} AS t " +
                "JOIN pg_catalog.pg_sequence AS p ON p.seqrelid = t.tableoid", c);
            try
            {
                await using var r = await cmd.ExecuteReaderAsync(ct);
                await r.ReadAsync(ct);
                var (last, called, increment) = (r.GetInt64(0), r.GetBoolean(1), r.GetInt64(2));
                states.Add((s, (called ? (System.Numerics.BigInteger)last + increment : last, increment)));
            }
            catch (PostgresException e) when (!PgErrors.IsTransient(e))
            {
                states.Add((s, null));
            }
        }
        return states;
    }

    private static bool MayMeet(List<(System.Numerics.BigInteger Next, long Increment)> states)
    {
        for (var i = 0; i < states.Count; i++)
            for (var j = i + 1; j < states.Count; j++)
            {
                var gcd = System.Numerics.BigInteger.GreatestCommonDivisor(states[i].Increment, states[j].Increment);
                if ((states[i].Next - states[j].Next) % gcd == 0) return true;
            }
        return false;
    }
}
