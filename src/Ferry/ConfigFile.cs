using System.Text.RegularExpressions;

namespace Ferry;

/// <summary>
/// <c>$FERRY_HOME/ferry.conf</c>: settings beside the store, one <c>FERRY_NAME=value</c> a line (blank lines and
/// <c>#</c> comments allowed, a value may be quoted), for hosts where the environment of every verb is hard to keep the
/// same. The environment wins over it. Read once per process: a running relay takes a change when it starts again.
/// Every mistake (a line that is no setting, a name twice, a file others may write) is an error naming the file and
/// the line, as a bad value is (<see cref="Settings"/>).
/// </summary>
public static partial class ConfigFile
{
    private static readonly Lock Gate = new();
    private static (string Path, IReadOnlyDictionary<string, (string Value, int Line)> Entries)? _read;

    public static string Path => System.IO.Path.Combine(Defaults.Home, "ferry.conf");

    /// <summary>The file's value for <paramref name="variable"/> and its line, or null when the file does not set it.</summary>
    public static (string Value, int Line)? Find(string variable) =>
        Entries().TryGetValue(variable, out var entry) ? entry : null;

    /// <summary>Every name the file sets, with its line.</summary>
    public static IEnumerable<(string Name, int Line)> Names() => Entries().Select(e => (e.Key, e.Value.Line));

    private static IReadOnlyDictionary<string, (string Value, int Line)> Entries()
    {
        var path = Path;
        lock (Gate)
        {
            if (_read is { } read && read.Path == path) return read.Entries;
            var entries = Parse(path);
            _read = (path, entries);
            return entries;
        }
    }

    private static Dictionary<string, (string Value, int Line)> Parse(string path)
    {
        var entries = new Dictionary<string, (string Value, int Line)>(StringComparer.Ordinal);
        if (!File.Exists(path)) return entries;
        // Settings decide where the relay listens and what it trusts: a file anyone else may write could decide them.
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
            throw new SettingException($"{path} may be written by other users, so ferry does not read it. Fix it with: chmod 600 {path}");
        var lines = File.ReadAllLines(path);
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var at = $"{path} line {i + 1}";
            var match = Entry().Match(line);
            if (!match.Success)
                throw new SettingException($"{at} is not a setting: write NAME=value with a FERRY_* name (such as FERRY_POLL_SECONDS=1), " +
                                           "or begin the line with # to keep it as a comment.");
            var name = match.Groups["name"].Value;
            if (name == "FERRY_HOME")
                throw new SettingException($"{at}: FERRY_HOME cannot be set in the file it locates. Set it in the environment, or remove the line.");
            if (entries.TryGetValue(name, out var first))
                throw new SettingException($"{at} sets {name} again (line {first.Line} set it first). Keep one of the two.");
            var value = match.Groups["value"].Value.Trim();
            if (value.Length >= 2 && (value[0] == '"' || value[0] == '\'') && value[^1] == value[0]) value = value[1..^1];
            entries[name] = (value, i + 1);
        }
        return entries;
    }

    [GeneratedRegex(@"^(export\s+)?(?<name>FERRY_[A-Z0-9_]+)\s*=(?<value>.*)$")]
    private static partial Regex Entry();
}
