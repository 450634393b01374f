namespace Ferry.Install;

/// <summary>A replicated column: generated columns are left out, since the target computes them itself.</summary>
public sealed record Column(string Name, string Type, bool IsKey, bool IsBuiltinType, bool IsIdentityAlways)
{
    /// <summary>
    /// The type of ferry's own copies of this column when it is a key (row versions, change log): the column's type
    /// widened, so that the capture never rejects a value the table takes after its owner widened the column (int to
    /// bigint, varchar(10) to varchar(20), numeric(5) to numeric(12)). Integers become bigint and typmods go (char(n)
    /// becomes bpchar, which compares as char(n) does, ignoring trailing spaces). Equality is the same, and joins
    /// across the two types (int4 = int8) still use either side's index.
    /// </summary>
    public string VersionType { get; init; } = Type;
}

/// <summary>
/// A table as one database has it: its replicated columns in attribute order and its primary key in key order.
/// Two databases can replicate a table only when their shapes agree (<see cref="ShapeCheck"/>).
/// </summary>
public sealed record TableShape(TableName Name, IReadOnlyList<Column> Columns, IReadOnlyList<string> Key)
{
    /// <summary>Unique constraints besides the primary key: two masters can each insert the same value under other keys.</summary>
    public IReadOnlyList<UniqueKey> UniqueKeys { get; init; } = [];

    /// <summary>
    /// Whether a foreign key of some table points at this one with an ON DELETE action other than NO ACTION: deleting
    /// a row here cascades, nulls, defaults or fails at once, even if the statement writes the row again.
    /// </summary>
    public bool DeleteActsOnReferences { get; init; }

    /// <summary>
    /// This table, a target's, with the columns <paramref name="source"/> sends, in its order, each as this table has
    /// it: what a pair carries. Columns only this table has are left out: they keep their values, or on insert take
    /// their defaults. <see cref="ShapeCheck.ColumnProblems"/> says first if the source sends one this table lacks.
    /// </summary>
    public TableShape Carrying(TableShape source) => this with
    {
        Columns = source.Columns.Select(s => Columns.FirstOrDefault(c => c.Name == s.Name)
            ?? throw new FerryException($"Column {Postgres.Quote.Ident(s.Name)} of table {Name} is missing in a database that receives it.")).ToList(),
    };

    public IEnumerable<Column> KeyColumns => Key.Select(k => Columns.First(c => c.Name == k));

    public IEnumerable<Column> ValueColumns => Columns.Where(c => !c.IsKey);

    /// <summary>
    /// Binary COPY carries type OIDs inside arrays and composites, and user-defined types have different OIDs in
    /// each database; text COPY is safe for every type, binary only for built-in ones.
    /// </summary>
    public bool CanCopyBinary => Columns.All(c => c.IsBuiltinType);

    public bool HasIdentityAlways => Columns.Any(c => c.IsIdentityAlways);
}

/// <summary>A unique index on plain columns (no expression, no predicate), other than the primary key.</summary>
public sealed record UniqueKey(string Name, IReadOnlyList<string> Columns);
