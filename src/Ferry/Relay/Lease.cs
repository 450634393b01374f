namespace Ferry.Relay;

/// <summary>A relay as it registers in the store: who it is, where its HTTP endpoint is, the databases it prefers.</summary>
public sealed record RelayIdentity(string Id, string Host, int Pid, string? Http, IReadOnlyList<string> Prefers)
{
    /// <summary>Host and pid name it for people; the random tail keeps a restarted relay that got the same pid distinct.</summary>
    public static RelayIdentity Of(string? http, IReadOnlyList<string> prefers) =>
        new($"{Environment.MachineName}:{Environment.ProcessId}:{Convert.ToHexString(Guid.NewGuid().ToByteArray())[..6].ToLowerInvariant()}",
            Environment.MachineName, Environment.ProcessId, http, prefers);
}

/// <summary>
/// An active sync and the databases its pairs read from: what a preference is matched against. <see cref="Databases"/>
/// are all it touches, read from or written to: a relay that cannot reach one of them cannot run it. <see cref="Wal"/>
/// are those of them captured by WAL whose capture runs (some active pair reads from them): the sync must run on the
/// relay that runs that capture, since only one can read the slot and an apply there asks that relay for flushes.
/// </summary>
public sealed record SyncSources(string Sync, IReadOnlyList<string> Sources)
{
    public IReadOnlyList<string> Databases { get; init; } = Sources;

    public IReadOnlyList<string> Wal { get; init; } = [];
}

/// <summary>Syncs that run on one relay because they share the WAL capture of <paramref name="Wal"/> (<see cref="LeaseShare.Units"/>).</summary>
public sealed record SyncUnit(IReadOnlyList<string> Syncs, IReadOnlyList<string> Wal);

/// <summary>
/// A registered relay as the heartbeat reads it; times by the store's clock, in seconds since the epoch.
/// <see cref="Unreachable"/>: the databases it reported it cannot reach (its links to them failing for over a grace).
/// </summary>
public sealed record LiveRelay(string Id, double HeartbeatAt, IReadOnlyList<string> Prefers)
{
    public IReadOnlySet<string> Unreachable { get; init; } = new HashSet<string>();
}

/// <summary>A sync's lease: the relay that runs it, until <paramref name="ExpiresAt"/> unless renewed.</summary>
public sealed record Lease(string Sync, string RelayId, double ExpiresAt);

/// <summary>What a heartbeat leaves this relay: the syncs it may run, and those it should stop and hand back.</summary>
public sealed record LeaseRound(IReadOnlySet<string> Run, IReadOnlySet<string> Surplus)
{
    public static readonly LeaseRound Empty = new(new HashSet<string>(), new HashSet<string>());
}

/// <summary>
/// A relay as `ferry status` shows it: its heartbeat's age by the store's clock, the syncs it holds, and the databases it
/// cannot reach (whose syncs another relay that reaches them runs). <see cref="Together"/>: the units of several syncs it
/// holds some of, which share a WAL capture and so move only together.
/// </summary>
public sealed record RelayRegistration(string Id, string Host, int Pid, string? Http, double HeartbeatAgeSeconds,
    IReadOnlyList<string> Prefers, IReadOnlyList<string> Leases, IReadOnlyList<string> Unreachable)
{
    public IReadOnlyList<SyncUnit> Together { get; init; } = [];
}

/// <summary>A database this relay cannot reach, as its heartbeat reports it: since when (its clock), and the last error.</summary>
public sealed record UnreachableDatabase(string Name, DateTimeOffset Since, string? LastError);
