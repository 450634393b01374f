using System.Text;

namespace Ferry.Cli;

/// <summary>
/// <c>pass=-</c>: the password comes from standard input rather than the command line, where every local user sees
/// it (ps, /proc/PID/cmdline) and the shell keeps it in its history.
/// </summary>
public static class PasswordInput
{
    /// <summary>One line from standard input; from a terminal, asked for on stderr and read without echo.</summary>
    public static string Read(string prompt)
    {
        var password = Console.IsInputRedirected ? Console.In.ReadLine()?.TrimEnd('\r') : Prompt(prompt);
        if (string.IsNullOrEmpty(password))
            throw new UsageException("pass=- reads the password from standard input, and got none: pipe it in " +
                                     "(ferry add database ... pass=- < file), type it when asked, or leave pass= out to use " +
                                     "~/.pgpass, PGPASSWORD or passfile=.");
        return password;
    }

    private static string Prompt(string prompt)
    {
        Console.Error.Write(prompt);
        var typed = new StringBuilder();
        while (Console.ReadKey(intercept: true) is var key && key.Key != ConsoleKey.Enter)
        {
            if (key.Key == ConsoleKey.Backspace)
            {
                if (typed.Length > 0) typed.Length--;
            }
            else if (!char.IsControl(key.KeyChar))
            {
                typed.Append(key.KeyChar);
            }
        }
        Console.Error.WriteLine();
        return typed.ToString();
    }
}
