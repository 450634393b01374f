namespace Ferry.Cli.Commands;

/// <summary>`ferry update sync | database NAME key=value ...`, Bucardo's verb for changing a configured object in place.</summary>
public static class UpdateCommands
{
    public static Task<int> RunAsync(BucardoArguments args, CancellationToken ct)
    {
        if (args.Words.Count == 0) throw new UsageException("Update what? ferry update sync NAME key=value ... | ferry update database NAME key=value ...");
        var noun = args.Words[0].ToLowerInvariant();
        args.Words.RemoveAt(0);
        return noun switch
        {
            "sync" => UpdateSyncCommand.UpdateAsync(args, ct),
            "database" or "db" => UpdateDatabaseCommand.UpdateAsync(args, ct),
            _ => throw new UsageException($"Cannot update '{noun}': use sync or database."),
        };
    }
}
