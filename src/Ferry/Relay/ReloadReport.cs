namespace Ferry.Relay;

/// <summary>
/// What a reload changed, per sync (started, stopped, restarted, unchanged, with pair counts) and per source listener.
/// Its text is what `ferry reload` prints and the relay logs: <c>reloaded: sync s2 started (2 pairs), sync s1 unchanged</c>.
/// </summary>
public sealed record ReloadReport(IReadOnlyList<string> Syncs, IReadOnlyList<string> Listeners, bool Changed)
{
    /// <summary>Sorts the outcome of each sync: those that changed first, then the rest, each by name.</summary>
    public static ReloadReport Of(IReadOnlyCollection<Pair> before, IReadOnlyCollection<Pair> after, IReadOnlyCollection<Pair> restarted,
        IReadOnlyList<string> listeners)
    {
        var lines = new List<(bool Changed, string Sync, string Text)>();
        foreach (var sync in before.Concat(after).Select(p => p.Sync).Distinct().Order(StringComparer.Ordinal))
        {
            var was = before.Where(p => p.Sync == sync).ToHashSet();
            var now = after.Where(p => p.Sync == sync).ToHashSet();
            var started = now.Count(p => !was.Contains(p));
            var stopped = was.Count(p => !now.Contains(p));
            var again = restarted.Count(p => p.Sync == sync && was.Contains(p) && now.Contains(p));
            string text;
            if (was.Count == 0) text = $"started ({Pairs(now.Count)})";
            else if (now.Count == 0) text = $"stopped ({Pairs(was.Count)})";
            else if (started + stopped + again == 0) text = "unchanged";
            else
            {
                var parts = new List<string>();
                if (again > 0) parts.Add(again == now.Count ? $"restarted ({Pairs(again)})" : $"restarted {again} of {Pairs(now.Count)}");
                if (started > 0) parts.Add($"started {Pairs(started)}");
                if (stopped > 0) parts.Add($"stopped {Pairs(stopped)}");
                text = string.Join(", ", parts);
            }
            lines.Add((text != "unchanged", sync, $"sync {sync} {text}"));
        }
        var syncs = lines.OrderBy(l => l.Changed ? 0 : 1).ThenBy(l => l.Sync, StringComparer.Ordinal).Select(l => l.Text).ToList();
        return new ReloadReport(syncs, listeners, lines.Any(l => l.Changed) || listeners.Count > 0);
    }

    private static string Pairs(int n) => n == 1 ? "1 pair" : $"{n} pairs";

    public override string ToString() =>
        "reloaded: " + (Syncs.Count == 0 ? "no active sync" : string.Join(", ", Syncs))
                     + (Listeners.Count == 0 ? "" : "; " + string.Join(", ", Listeners));
}
