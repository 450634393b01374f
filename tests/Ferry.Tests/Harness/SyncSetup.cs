namespace Ferry.Tests.Harness;

/// <summary>The Bucardo seed sequence the scenarios share, through the real CLI.</summary>
public static class SyncSetup
{
    /// <summary>
    /// db1 as the only source, db2 and db3 as targets, every table in herd h, sync s. The relay is not started:
    /// tests choose when, and with which environment.
    /// </summary>
    public static async Task OneSourceTwoTargetsAsync(this Topology t)
    {
        await t.AddDatabasesAsync();
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:target", "db3:target");
        await t.Cli.OkAsync("add", "all", "tables", "herd=h");
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
    }

    /// <summary>
    /// db1 and db2 as masters, db3 as their replica (the README's Bucardo sequence), every table in herd h, sync s.
    /// The relay is not started.
    /// </summary>
    public static async Task TwoMastersAndReplicaAsync(this Topology t)
    {
        await t.AddDatabasesAsync();
        await t.Cli.OkAsync("add", "dbgroup", "g", "db1:source", "db2:source", "db3:target");
        await t.Cli.OkAsync("add", "all", "tables", "herd=h");
        await t.Cli.OkAsync("add", "sync", "s", "herd=h", "dbs=g");
    }
}
