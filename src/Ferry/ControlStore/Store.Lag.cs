using System.Globalization;
using Ferry.Progress;

namespace Ferry.ControlStore;

/// <summary>Each pair's last measured lag (control_005_lag.sql), for `ferry status` and a relay that starts.</summary>
public sealed partial class Store
{
    public Task RecordLagAsync(Pair pair, PairLag lag, CancellationToken ct) =>
        ExecuteAsync("""
            INSERT INTO pair_lag (sync, source, target, lag_rows, lag_seconds, measured_at, stale_since, position)
            VALUES ($s, $src, $tgt, $rows, $secs, $at, $stale, $pos)
            ON CONFLICT (sync, source, target) DO UPDATE SET
                lag_rows = excluded.lag_rows, lag_seconds = excluded.lag_seconds, measured_at = excluded.measured_at,
                stale_since = excluded.stale_since, position = coalesce(excluded.position, pair_lag.position)
            """, ct, ("$s", pair.Sync), ("$src", pair.Source), ("$tgt", pair.Target), ("$rows", lag.Rows),
            ("$secs", lag.Seconds), ("$at", Text(lag.MeasuredAt)), ("$stale", Text(lag.StaleSince)), ("$pos", lag.Position));

    public async Task<Dictionary<Pair, PairLag>> ListLagAsync(CancellationToken ct) =>
        (await QueryAsync("SELECT sync, source, target, lag_rows, lag_seconds, measured_at, stale_since, position FROM pair_lag",
            r => (new Pair(r.GetString(0), r.GetString(1), r.GetString(2)), new PairLag(
                r.IsDBNull(3) ? null : r.GetInt64(3), r.IsDBNull(4) ? null : r.GetDouble(4),
                r.IsDBNull(5) ? null : Parse(r.GetString(5)), r.IsDBNull(6) ? null : Parse(r.GetString(6)),
                r.IsDBNull(7) ? null : r.GetString(7))), ct)).ToDictionary(x => x.Item1, x => x.Item2);

    private static string? Text(DateTimeOffset? t) => t?.ToString("O", CultureInfo.InvariantCulture);

    private static DateTimeOffset Parse(string t) => DateTimeOffset.Parse(t, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
}
