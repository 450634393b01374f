namespace Ferry.Capture;

/// <summary>
/// The advisory lock that decides whether a write rings the relay (NOTIFY) or not. The relay's listener holds it
/// exclusively while its pairs wait for work; capture triggers try it shared, and ring only when that fails. See
/// capture_table.sql for the trigger side and <see cref="Relay.SourceListener"/> for the relay side.
/// </summary>
public static class Doorbell
{
    /// <summary>Ferry's own advisory-lock space (two int4 keys: "ferr" in ASCII, then the lock's number in it).</summary>
    public const int Space = 0x66657272;

    public const int Number = 1;

    /// <summary>The lock's two keys as SQL arguments, for the capture triggers.</summary>
    public static string Arguments => $"{Space}, {Number}";
}
