namespace Ferry.Local;

/// <summary>Finds the PostgreSQL server programs (initdb, pg_ctl) of the local installation.</summary>
internal static class PostgresBinaries
{
    public const string InstallHint = "install the PostgreSQL server: apt-get install postgresql";

    /// <summary>The folder holding both initdb and pg_ctl.</summary>
    public static string FindBinDirectory()
    {
        // PATH first, so a user can choose a version; Debian keeps the server programs off PATH,
        // so fall back to its versioned folders, newest first.
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (HasServerPrograms(dir))
            {
                return dir;
            }
        }

        const string debianRoot = "/usr/lib/postgresql";
        if (Directory.Exists(debianRoot))
        {
            var candidates = Directory.GetDirectories(debianRoot)
                .Select(d => (Dir: Path.Combine(d, "bin"), Version: ParseVersion(Path.GetFileName(d))))
                .Where(c => c.Version is not null && HasServerPrograms(c.Dir))
                .OrderByDescending(c => c.Version);
            foreach (var candidate in candidates)
            {
                return candidate.Dir;
            }
        }

        throw new InvalidOperationException(
            $"PostgreSQL server programs (initdb, pg_ctl) were not found on PATH nor under {debianRoot}/*/bin; {InstallHint}.");
    }

    private static bool HasServerPrograms(string dir) =>
        File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl"));

    private static Version? ParseVersion(string name) =>
        Version.TryParse(name.Contains('.', StringComparison.Ordinal) ? name : name + ".0", out var v) ? v : null;
}
