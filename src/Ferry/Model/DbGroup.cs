namespace Ferry;

public sealed record DbGroupMember(string Database, Role Role);

/// <summary>
/// A named, ordered list of databases. The order matters: it breaks ties between equal versions under the
/// <c>latest</c> rule and ranks sources under the <c>source</c> rule, the same way on every database.
/// </summary>
public sealed record DbGroup(string Name, IReadOnlyList<DbGroupMember> Members)
{
    public IEnumerable<string> Sources => Members.Where(m => m.Role == Role.Source).Select(m => m.Database);

    public IEnumerable<string> Targets => Members.Where(m => m.Role == Role.Target).Select(m => m.Database);
}
