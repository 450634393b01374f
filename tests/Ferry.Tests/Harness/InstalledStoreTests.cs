using Xunit;

namespace Ferry.Tests.Harness;

/// <summary>
/// Tests of command lines that are refused before any database is asked: each test class gets a fresh $FERRY_HOME
/// with `ferry install` done, and no servers.
/// </summary>
public abstract class InstalledStoreTests : IAsyncLifetime
{
    protected FerryCli Cli { get; } = new();

    public Task InitializeAsync() => Cli.OkAsync("install");

    public Task DisposeAsync()
    {
        Cli.Dispose();
        return Task.CompletedTask;
    }
}
