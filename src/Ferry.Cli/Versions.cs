using System.Reflection;

namespace Ferry.Cli;

/// <summary>The version ferry reports: the build's informational version (with the commit it was built from).</summary>
public static class Versions
{
    public static string Ferry =>
        typeof(Versions).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(Versions).Assembly.GetName().Version?.ToString() ?? "unknown";
}
