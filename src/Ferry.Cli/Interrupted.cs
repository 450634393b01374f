namespace Ferry.Cli;

/// <summary>
/// Ctrl-C or SIGTERM ended a long verb cleanly: the message says what was done and the command that goes on from
/// there. Exit code 130, as for any interruption; never the error text of the statement the signal cut short.
/// </summary>
public sealed class InterruptedException(string message) : OperationCanceledException(message);
