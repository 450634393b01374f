namespace Ferry.Cli.Commands;

public static class DemoCommand
{
    public static Task<int> RunAsync(BucardoArguments args, CancellationToken ct) => throw new FerryException("demo: not yet");
}
