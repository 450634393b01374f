using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Ferry.Relay;
using Npgsql;

namespace Ferry.Postgres;

/// <summary>
/// How a setup command (add database, add sync, upgrade, compare, ...) rides through the link it is building for: a
/// step that fails on the link (a reset, a timeout, a server restarting: the relay's own <see cref="PgErrors.IsTransient"/>)
/// is run again, after a short backoff, until it succeeds or the link has kept failing for
/// <see cref="Defaults.SetupRetry"/>. A step is one unit the caller can run twice: read-only, or one transaction of
/// idempotent SQL, or a loop that remembers (in the caller's locals) what it committed and resumes after it. Anything
/// else (a wrong password, a missing database or right, an SQL error) fails at once, as it would without retries.
/// One instance per command: it remembers which databases it has reached.
/// </summary>
public sealed class LinkRetry(Action<string> report, TimeSpan budget)
{
    private readonly HashSet<string> _reached = new(StringComparer.Ordinal);
    private bool _progressed;

    /// <summary>No retry: the first failure is thrown as it is (tests, and callers with retries of their own).</summary>
    public static LinkRetry None => new(_ => { }, TimeSpan.Zero);

    /// <summary>A command's retries, for <see cref="Defaults.SetupRetry"/>, each told to <paramref name="report"/>.</summary>
    public static LinkRetry ForSetup(Action<string> report) => new(report, Defaults.SetupRetry);

    /// <summary>
    /// Says that a step committed something it will not redo: the time it may keep failing starts again, since a link
    /// that resets every few seconds but carries work in between is slow, not dead.
    /// </summary>
    public void Progressed() => _progressed = true;

    public async Task RunAsync(Database db, Func<CancellationToken, Task> step, CancellationToken ct) =>
        await RunAsync(db, async c =>
        {
            await step(c);
            return true;
        }, ct);

    /// <param name="db">the database the step talks to; a step over several names the one whose link broke by throwing
    /// a <see cref="LinkException"/> (see <see cref="ConnectionSet"/>)</param>
    public async Task<T> RunAsync<T>(Database db, Func<CancellationToken, Task<T>> step, CancellationToken ct)
    {
        Stopwatch? failing = null;
        var backoff = new Backoff(TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
        for (var attempt = 1; ; attempt++)
        {
            _progressed = false;
            try
            {
                var result = await step(ct);
                _reached.Add(db.Name);
                return result;
            }
            catch (Exception e) when (!ct.IsCancellationRequested && IsLinkFailure(e))
            {
                var where = e is LinkException link ? link.Database : db;
                if (failing is null || _progressed) failing = Stopwatch.StartNew();
                if (budget <= TimeSpan.Zero || (!_reached.Contains(where.Name) && NeverAnswered(e)))
                {
                    // A LinkException is the relay's type, which the command line does not expect: say it in ferry's.
                    if (e is LinkException) throw new FerryException(e.InnerException is FerryException ? e.Message
                        : $"Lost the link to {where.Describe()}: {e.Message.TrimEnd('.')}. Run the command again.", e.InnerException ?? e);
                    throw;
                }
                // A failure mid-conversation proves the address right: a refusal after it is the server restarting.
                if (!NeverAnswered(e)) _reached.Add(where.Name);
                var left = budget - failing.Elapsed;
                if (left <= TimeSpan.Zero) throw GaveUp(where, e, failing.Elapsed, attempt);
                var wait = backoff.Next();
                if (wait > left) wait = left;
                report($"link to {where.Name} {What(e)}; retrying (attempt {attempt + 1}, {Seconds(left)} s left)");
                await Task.Delay(wait, ct);
            }
        }
    }

    /// <summary>The relay's classification, so that setup and relay agree on what a bad link is.</summary>
    private static bool IsLinkFailure(Exception e) => e is LinkException || PgErrors.IsTransient(e);

    /// <summary>
    /// Refused, no such host, or no answer within the connect timeout, before this command ever reached the database:
    /// a wrong address or a closed firewall far more often than a flaky link, and waiting minutes to say so would hide
    /// it. Once the database has answered, the same failures are the link's, and retried.
    /// </summary>
    private static bool NeverAnswered(Exception e) => Innermost(e) is TimeoutException or SocketException
    {
        SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData,
    };

    private static string What(Exception e) => Innermost(e) switch
    {
        TimeoutException => "timed out",
        SocketException { SocketErrorCode: SocketError.ConnectionRefused } => "refused",
        PostgresException { SqlState: "57P01" or "57P02" or "57P03" } pe => $"closed by the server ({pe.MessageText})",
        PostgresException pe => $"met a transient error ({pe.MessageText}, SQLSTATE {pe.SqlState})",
        _ => "reset",
    };

    /// <summary>Without the cause as its inner exception: a retry around this one would otherwise see a link failure.</summary>
    private FerryException GaveUp(Database db, Exception e, TimeSpan failing, int attempts) => new(
        $"Gave up on the link to {db.Describe()} after it failed for {Seconds(failing)} s ({attempts} attempt{(attempts == 1 ? "" : "s")}; " +
        $"last: {Innermost(e).Message.TrimEnd('.')}). Nothing was left half-done: each step that finished was committed and " +
        "the one cut off was rolled back. Running the same command again is safe: it checks what is there and goes on. " +
        $"To wait longer for a bad link, raise FERRY_SETUP_RETRY_SECONDS (now {Seconds(budget)}).");

    private static string Seconds(TimeSpan t) => Math.Max(0, t.TotalSeconds).ToString("0", CultureInfo.InvariantCulture);

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }
}
