namespace Ferry;

/// <summary>A database's part in a dbgroup: a writable master or a read replica.</summary>
public enum Role
{
    Source,
    Target,
}
