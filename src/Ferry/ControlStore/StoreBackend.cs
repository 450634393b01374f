using System.Data.Common;

namespace Ferry.ControlStore;

/// <summary>What differs between the SQLite and the PostgreSQL store; <see cref="Store"/> holds the SQL they share.</summary>
internal abstract class StoreBackend : IDisposable
{
    /// <summary>Runs <paramref name="work"/> on a connection (autocommit), retrying what a retry may mend.</summary>
    public abstract Task<T> WithConnectionAsync<T>(Func<DbConnection, Task<T>> work, CancellationToken ct);

    public abstract Task InTransactionAsync(Func<DbTransaction, Task> work, CancellationToken ct);

    /// <summary>Applies every migration file and added column; <paramref name="create"/>: `ferry install`, which may create.</summary>
    public abstract Task MigrateAsync(IReadOnlyList<(string Name, string Sql)> files,
        IReadOnlyList<(string Table, string Column, string Type)> addedColumns, bool create, CancellationToken ct);

    /// <summary>A query for the store's clock, in seconds since the epoch: leases expire by it, not by any relay host's.</summary>
    public abstract string ClockSql { get; }

    /// <summary>The statement as this database reads it.</summary>
    public virtual string Sql(string sql) => sql;

    /// <summary>The parameter's name as this driver takes it (the SQL names it <c>$name</c> or <c>@name</c>).</summary>
    public virtual string ParameterName(string name) => name;

    public abstract void Dispose();
}
