using System.Runtime.InteropServices;

namespace Ferry.Cli;

/// <summary>
/// $FERRY_HOME as ferry trusts it. The relay often runs as root and the store holds passwords, so before any verb
/// the home must be a folder of the current user's that no one else can write, and each file ferry keeps there
/// (<see cref="Files"/>) a regular file of the user's, never a symbolic link: a link planted at <c>ferry.log</c> or
/// <c>relay.json.tmp</c> would make ferry append to or overwrite the file it points at.
/// </summary>
/// <remarks>
/// Links are refused after an lstat rather than by opening with O_NOFOLLOW: once the home is checked to be writable
/// by its owner alone, no one else can swap a link in between the check and the open, and the check gives a sentence
/// naming the file instead of ELOOP; O_NOFOLLOW's value also differs between architectures. Temporary files are
/// created with <see cref="FileMode.CreateNew"/> (O_CREAT|O_EXCL), which never follows a link either.
/// </remarks>
public static class FerryHome
{
    public static string LockPath => Path.Combine(Defaults.Home, "relay.lock");

    /// <summary>
    /// Every file ferry writes in the home: the store and SQLite's files beside it, the relay's state, its log, its lock,
    /// the pointer to a PostgreSQL store (which may hold a password, so it is kept like the store).
    /// </summary>
    public static IEnumerable<string> Files =>
    [
        Defaults.StorePath, Defaults.StorePath + "-wal", Defaults.StorePath + "-shm", Defaults.StorePath + "-journal",
        Defaults.RelayStatePath, Defaults.RelayStatePath + ".tmp", Defaults.LogPath, LockPath,
        Defaults.StorePointerPath, Defaults.StorePointerPath + ".tmp",
    ];

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private const int GroupOrOthersWrite = 0b000_010_010; // 022

    private const int GroupOrOthersAny = 0b000_111_111; // 077

    /// <summary>Refuses, with the command that fixes it, a home or a file in it that someone else could write or plant.</summary>
    /// <param name="create">`ferry install`: create a missing home, mode 0700</param>
    public static void Check(bool create)
    {
        if (OperatingSystem.IsWindows()) return;
        if (DisableFileLocking())
            throw new FerryException("File locking is switched off (DOTNET_SYSTEM_IO_DISABLEFILELOCKING or System.IO.DisableFileLocking), " +
                                     "and ferry needs it to keep to one relay per FERRY_HOME: unset it.");
        var home = Defaults.Home;
        // The home itself may be a link the user made to a folder elsewhere: follow it, and check the folder.
        var st = Stat(home, follow: true);
        if (st is null)
        {
            if (!create) return; // nothing to trust yet; the verb says to run ferry install
            Directory.CreateDirectory(home, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            st = Stat(home, follow: true) ?? throw new FerryException($"Could not create FERRY_HOME {home}.");
        }
        if (!st.Value.IsDirectory)
            throw new FerryException($"FERRY_HOME {home} is not a folder. Point FERRY_HOME at a folder (ferry install creates " +
                                     "a missing one), or move that file away.");
        var me = GetEuid();
        if (st.Value.Uid != me)
            throw new FerryException($"FERRY_HOME {home} belongs to uid {st.Value.Uid}, not to you (uid {me}): its owner could " +
                                     $"change what ferry reads and writes there. Use a folder of your own, or: chown {me} {home}");
        if ((st.Value.Mode & GroupOrOthersWrite) != 0)
            throw new FerryException($"FERRY_HOME {home} is writable by other users (mode {Octal(st.Value.Mode)}): they could " +
                                     $"plant links there that make ferry overwrite other files. Run: chmod 700 {home}");
        foreach (var file in Files)
            CheckFile(file, me);
    }

    private static void CheckFile(string path, uint me)
    {
        if (Stat(path, follow: false) is not { } st) return;
        if (st.IsLink)
            throw new FerryException($"{path} is a symbolic link (to {File.ResolveLinkTarget(path, false)?.FullName ?? "?"}): " +
                                     "ferry never writes through a link in its home, since one planted there could make it " +
                                     $"overwrite another file. Remove the link: rm {path}");
        if (!st.IsRegular)
            throw new FerryException($"{path} is not a regular file. Move it away: ferry keeps its own file there.");
        if (st.Uid != me)
            throw new FerryException($"{path} belongs to uid {st.Uid}, not to you (uid {me}). Run: chown {me} {path}");
        // Like libpq with ~/.pgpass: the store holds passwords, so any access by others is refused, not just writing.
        var store = path.StartsWith(Defaults.StorePath, StringComparison.Ordinal) || path.StartsWith(Defaults.StorePointerPath, StringComparison.Ordinal);
        if ((st.Mode & (store ? GroupOrOthersAny : GroupOrOthersWrite)) != 0)
            throw new FerryException($"{path} is {(store ? "open to" : "writable by")} other users (mode {Octal(st.Mode)})" +
                                     $"{(store ? ", and it holds passwords" : "")}. Run: chmod 600 {path}");
    }

    /// <summary>Opens a file of the home for appending (the log), creating it mode 0600, never through a link.</summary>
    public static FileStream OpenAppend(string path)
    {
        RefuseLink(path);
        var options = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.ReadWrite };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = OwnerOnly;
        return new FileStream(path, options);
    }

    /// <summary>Creates a file of the home mode 0600 if it is missing (the log before a shell appends to it).</summary>
    public static void Touch(string path)
    {
        using (OpenAppend(path)) { }
    }

    /// <summary>
    /// Replaces a file of the home whole: written to a fresh <c>.tmp</c> (O_CREAT|O_EXCL, so never through a link; a
    /// leftover is deleted, which removes a link and not its target), then renamed over the file.
    /// </summary>
    public static void WriteAtomically(string path, string text)
    {
        var tmp = path + ".tmp";
        File.Delete(tmp);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = OwnerOnly;
        using (var s = new FileStream(tmp, options))
        using (var w = new StreamWriter(s))
            w.Write(text);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Opens the lock file, creating it mode 0600; <paramref name="share"/> None takes flock(LOCK_EX|LOCK_NB).</summary>
    public static FileStream OpenLock(FileMode mode, FileAccess access, FileShare share)
    {
        RefuseLink(LockPath);
        var options = new FileStreamOptions { Mode = mode, Access = access, Share = share };
        if (!OperatingSystem.IsWindows() && mode != FileMode.Open) options.UnixCreateMode = OwnerOnly;
        return new FileStream(LockPath, options);
    }

    private static void RefuseLink(string path)
    {
        if (!OperatingSystem.IsWindows() && Stat(path, follow: false) is { IsLink: true })
            throw new FerryException($"{path} is a symbolic link: ferry never writes through a link in its home. Remove it: rm {path}");
    }

    private static bool DisableFileLocking() =>
        (AppContext.TryGetSwitch("System.IO.DisableFileLocking", out var off) && off)
        || Environment.GetEnvironmentVariable("DOTNET_SYSTEM_IO_DISABLEFILELOCKING") is "1" or "true";

    private static string Octal(int mode) => "0" + Convert.ToString(mode & 0b111_111_111, 8);

    private readonly record struct FileStatus(int Mode, uint Uid)
    {
        private const int TypeMask = 0xF000;

        public bool IsDirectory => (Mode & TypeMask) == 0x4000;

        public bool IsRegular => (Mode & TypeMask) == 0x8000;

        public bool IsLink => (Mode & TypeMask) == 0xA000;
    }

    /// <summary>
    /// stat/lstat through the .NET runtime's own native shim (the one FileSystemInfo uses): .NET has no public API for a
    /// file's owner, and the shim's FileStatus starts with the same four 32-bit fields (flags, mode, uid, gid) on
    /// every platform, where libc's struct stat differs between architectures. The buffer is larger than the struct.
    /// </summary>
    private static FileStatus? Stat(string path, bool follow)
    {
        var buffer = new byte[512];
        var rc = follow ? SystemStat(path, buffer) : SystemLStat(path, buffer);
        if (rc != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is 2 or 20) return null; // ENOENT, ENOTDIR: not there
            throw new FerryException($"Cannot examine {path} (errno {errno}): check that FERRY_HOME is a folder you can read.");
        }
        return new FileStatus(BitConverter.ToInt32(buffer, 4), BitConverter.ToUInt32(buffer, 8));
    }

    [DllImport("libSystem.Native", EntryPoint = "SystemNative_Stat", SetLastError = true)]
    private static extern int SystemStat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte[] buffer);

    [DllImport("libSystem.Native", EntryPoint = "SystemNative_LStat", SetLastError = true)]
    private static extern int SystemLStat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte[] buffer);

    [DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEuid();
}
