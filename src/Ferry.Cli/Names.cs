namespace Ferry.Cli;

/// <summary>
/// Names of ferry's own objects (databases, dbgroups, herds, syncs) appear in commands, logs and progress rows;
/// keep them to characters that need no quoting anywhere. Table names, which are PostgreSQL's, may be anything.
/// </summary>
public static class Names
{
    public static void Check(string name, string kind)
    {
        if (name.Length is 0 or > 63 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.')
            || !char.IsAsciiLetterOrDigit(name[0]))
            throw new UsageException(
                $"'{name}' is not a valid {kind} name: use up to 63 letters, digits, '_', '-' or '.', starting with a letter or digit.");
    }
}
