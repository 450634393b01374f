using System.Text;
using Ferry.Local;
using Xunit;

namespace Ferry.Tests.Harness;

/// <summary>
/// Three throwaway PostgreSQL servers shared by every test of the "servers" collection; each test makes its own
/// databases on them with <see cref="CreateDatabasesAsync"/>.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public const int Count = 3;
    private const int MaxNameLength = 40;
    private static int _counter;
    private LocalServer[] _servers = [];

    public LocalServer this[int i] => _servers[i];

    public IReadOnlyList<LocalServer> Servers => _servers;

    public async Task InitializeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var starting = Enumerable.Range(1, Count).Select(i => LocalServer.StartAsync($"srv{i}", timeout.Token)).ToArray();
        try
        {
            _servers = await Task.WhenAll(starting);
        }
        catch
        {
            // One failed: stop the others that did start, so no server outlives the run.
            foreach (var task in starting.Where(t => t.IsCompletedSuccessfully))
            {
                await task.Result.DisposeAsync();
            }

            throw;
        }

        await Task.WhenAll(_servers.Select(s => RestrictedRole.EnsureRolesAsync(s, timeout.Token)));
    }

    public async Task DisposeAsync()
    {
        await Task.WhenAll(_servers.Select(s => s.DisposeAsync().AsTask()));
    }

    /// <summary>
    /// Creates on every server a fresh database owned by app_owner, with ferry_repl's database grants,
    /// and returns its name (the same on every server).
    /// </summary>
    public async Task<string> CreateDatabasesAsync(string testName, CancellationToken ct)
    {
        var database = DatabaseName(testName, Interlocked.Increment(ref _counter));
        await Task.WhenAll(_servers.Select(async s =>
        {
            await s.ExecuteAsync("postgres", $"DROP DATABASE IF EXISTS {LocalServer.QuoteIdentifier(database)} WITH (FORCE)", ct);
            await s.CreateDatabaseAsync(database, RestrictedRole.Owner, ct);
            await RestrictedRole.GrantDatabaseAsync(s, database, ct);
        }));
        return database;
    }

    internal static string DatabaseName(string testName, int counter)
    {
        var name = new StringBuilder();
        foreach (var c in testName.ToLowerInvariant())
        {
            var keep = char.IsAsciiLetterOrDigit(c) ? c : '_';
            // Collapse runs of separators so long test names keep more of their words.
            if (keep != '_' || (name.Length > 0 && name[^1] != '_'))
            {
                name.Append(keep);
            }
        }

        var stem = name.ToString().Trim('_');
        if (stem.Length == 0 || !char.IsAsciiLetter(stem[0]))
        {
            stem = "t_" + stem;
        }

        if (stem.Length > MaxNameLength)
        {
            stem = stem[..MaxNameLength].TrimEnd('_');
        }

        return $"{stem}_{counter}";
    }
}

[CollectionDefinition("servers")]
public sealed class ServersCollection : ICollectionFixture<ServerFixture>
{
}

/// <summary>
/// A second set of three servers, so the scenario and link tests run beside the CLI tests instead of after them:
/// most of a test's time is spent waiting on PostgreSQL and the relay, not on the two cores.
/// </summary>
[CollectionDefinition("scenario-servers")]
public sealed class ScenarioServersCollection : ICollectionFixture<ServerFixture>
{
}
