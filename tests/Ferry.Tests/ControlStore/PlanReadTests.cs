using Ferry.ControlStore;
using Ferry.Relay;
using Ferry.Resolve;
using Xunit;

namespace Ferry.Tests.ControlStore;

/// <summary>
/// Every relay reads the whole configuration on each heartbeat. With 50 syncs it took a few hundred store queries, and
/// on a PostgreSQL store shared with 50 pairs' status writes (a pool of 10 connections) the heartbeat took longer than
/// the lease allows on a loaded host: the relay stopped all its pairs though the store answered (the several_relays
/// benchmark saw it in every phase). The read must cost a handful of queries whatever the number of syncs, and read
/// the same herds and dbgroups as one query per name did. No server needed.
/// </summary>
public sealed class PlanReadTests : IDisposable
{
    private const int Syncs = 40;
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "ferry-store-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, true);
    }

    [Fact]
    public async Task the_relay_plan_is_read_in_a_few_store_queries_whatever_the_number_of_syncs_and_reads_what_one_query_per_name_did()
    {
        using var store = await Store.CreateAsync(Path.Combine(_folder, "ferry.db"), default);
        await store.AddDatabaseAsync(new Database("db1", new Dictionary<string, string> { ["dbname"] = "a", ["host"] = "h1" }, null), default);
        await store.AddDatabaseAsync(new Database("db2", new Dictionary<string, string> { ["dbname"] = "b", ["host"] = "h2" }, "secret"), default);
        await store.AddDatabaseAsync(new Database("db3", new Dictionary<string, string> { ["dbname"] = "c", ["host"] = "h3" }, null), default);
        // Members in an order that is not alphabetical: the plan keeps each dbgroup's own order.
        await store.AddDbGroupAsync(new DbGroup("masters", [new DbGroupMember("db2", Role.Source), new DbGroupMember("db1", Role.Source)]), default);
        await store.AddDbGroupAsync(new DbGroup("fanout", [new DbGroupMember("db1", Role.Source), new DbGroupMember("db3", Role.Target)]), default);
        for (var i = 0; i < Syncs; i++)
        {
            var herd = $"h{i:D2}";
            var tables = new[] { new TableName("public", $"z{i}"), new TableName("app", $"a{i}") };
            await store.AddToHerdAsync(herd, tables, default);
            if (i % 3 == 0) await store.SetTableRuleAsync(herd, tables[1], ConflictRule.Source, default);
            if (i % 4 == 0) await store.AddSequencesToHerdAsync(herd, [new TableName("public", $"seq{i}"), new TableName("public", "a_seq")], default);
            await store.AddSyncAsync(new Sync($"s{i:D2}", herd, i % 2 == 0 ? "masters" : "fanout", ConflictRule.Latest, Active: i != 7), default);
        }

        var before = store.Calls;
        var plan = await RelayPlan.ReadAsync(store, default);
        var calls = store.Calls - before;
        Assert.True(calls <= 10, $"reading the plan of {Syncs} syncs took {calls} store calls");

        // What one query per herd, dbgroup and database reads.
        Assert.Equal(Syncs - 1, plan.Syncs().Count);
        foreach (var setup in plan.Pairs.Values)
        {
            var herd = await store.GetHerdAsync(setup.Sync.Herd, default);
            Assert.Equal(herd.Tables, setup.Herd.Tables);
            Assert.Equal(herd.Sequences, setup.Herd.Sequences);
            Assert.Equal(herd.Rules.OrderBy(r => r.Key.ToString()), setup.Herd.Rules.OrderBy(r => r.Key.ToString()));
            Assert.Equal((await store.GetDbGroupAsync(setup.Group.Name, default)).Members, setup.Group.Members);
            Assert.Equal((await store.GetDatabaseAsync(setup.Source.Name, default)).Password, setup.Source.Password);
            Assert.Equal((await store.GetDatabaseAsync(setup.Target.Name, default)).Settings, setup.Target.Settings);
        }
        Assert.Equal(ConflictRule.Source, plan.Pairs.Values.First(p => p.Sync.Name == "s03").Herd.RuleFor(new TableName("app", "a3"), ConflictRule.Latest));
        Assert.Equal([new TableName("public", "seq4"), new TableName("public", "a_seq")], plan.Pairs.Values.First(p => p.Sync.Name == "s04").Herd.Sequences);
        Assert.Equal(["db2", "db1"], (await store.ListDbGroupsAsync(default)).Single(g => g.Name == "masters").Members.Select(m => m.Database));
        Assert.Empty((await store.ListHerdsAsync(default)).Single(h => h.Name == "h01").Sequences);
    }
}
