namespace Ferry.Cli;

/// <summary>
/// libpq's connection service file: <c>[name]</c> sections of <c>key=value</c> lines, <c>#</c> comments. Read from
/// <c>PGSERVICEFILE</c>, else <c>~/.pg_service.conf</c>, else <c>$PGSYSCONFDIR/pg_service.conf</c>, as libpq does;
/// Npgsql reads none of them, so `add database service=NAME` takes the service's keys from here when the database is
/// added (`ferry update database` takes a later change to the file).
/// </summary>
public static class ServiceFile
{
    public static List<(string Key, string Value)> Read(string service)
    {
        var searched = new List<string>();
        foreach (var file in Candidates())
        {
            searched.Add(file);
            if (!File.Exists(file)) continue;
            if (Find(file, service) is { } keys) return keys;
        }
        throw new FerryException($"No service '{service}' in {string.Join(" or ", searched)}. Add a [{service}] section with " +
                                 "host=, port=, dbname=, user= lines (libpq's pg_service.conf format), or set PGSERVICEFILE to the file that has it.");
    }

    private static IEnumerable<string> Candidates()
    {
        if (Environment.GetEnvironmentVariable("PGSERVICEFILE") is { Length: > 0 } explicitFile)
        {
            // libpq looks no further when PGSERVICEFILE is set.
            yield return explicitFile;
            yield break;
        }
        yield return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".pg_service.conf");
        if (Environment.GetEnvironmentVariable("PGSYSCONFDIR") is { Length: > 0 } sysconf)
            yield return Path.Combine(sysconf, "pg_service.conf");
    }

    private static List<(string, string)>? Find(string file, string service)
    {
        List<(string, string)>? found = null;
        var number = 0;
        foreach (var raw in File.ReadLines(file))
        {
            number++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            if (line.StartsWith('['))
            {
                if (found is not null) return found; // the section ended
                if (!line.EndsWith(']')) throw new FerryException($"{file} line {number}: '{line}' opens a section without closing it with ].");
                if (line[1..^1].Trim() == service) found = [];
                continue;
            }
            if (found is null) continue;
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new FerryException($"{file} line {number}: '{line}' is not key=value.");
            found.Add((line[..eq].Trim(), line[(eq + 1)..].Trim()));
        }
        return found;
    }
}
