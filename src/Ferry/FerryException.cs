namespace Ferry;

/// <summary>
/// A failure a user can act on. The message says what is wrong and what to do; the CLI prints it without a stack
/// trace and exits non-zero.
/// </summary>
public sealed class FerryException : Exception
{
    public FerryException(string message) : base(message) { }

    public FerryException(string message, Exception inner) : base(message, inner) { }

    public FerryException() { }

    /// <summary>What a pair stopped by this is doing, for status, when it is not simply stopped (it waits for a copy).</summary>
    public string? PairState { get; init; }
}
