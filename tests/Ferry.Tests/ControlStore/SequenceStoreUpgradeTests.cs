using Ferry.ControlStore;
using Xunit;

namespace Ferry.Tests.ControlStore;

/// <summary>A control store made by a ferry that knew no herd sequences: no server needed.</summary>
public sealed class SequenceStoreUpgradeTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "ferry-store-" + Guid.NewGuid().ToString("N")[..8]);

    private string StorePath => Path.Combine(_folder, "ferry.db");

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, true);
    }

    [Fact]
    public async Task a_store_made_before_sequences_gains_them_when_opened_and_keeps_its_herds()
    {
        var items = new TableName("public", "items");
        using (var old = await Store.CreateAsync(StorePath, default))
        {
            await old.AddToHerdAsync("h", [items], default);
            // What an older ferry left: control_001.sql's tables only.
            await old.ExecuteAsync("DROP TABLE herd_sequences", default);
        }

        using (var store = await Store.OpenAsync(StorePath, default))
        {
            var herd = await store.GetHerdAsync("h", default);
            Assert.Equal([items], herd.Tables);
            Assert.Empty(herd.Sequences);
            var odd = new TableName("public", "we\"ird; seq");
            Assert.Equal(2, await store.AddSequencesToHerdAsync("h", [new TableName("public", "ticket_no"), odd], default));
            Assert.Equal(0, await store.AddSequencesToHerdAsync("h", [odd], default));
        }

        using (var again = await Store.OpenAsync(StorePath, default))
        {
            Assert.Equal([new TableName("public", "ticket_no"), new TableName("public", "we\"ird; seq")],
                (await again.GetHerdAsync("h", default)).Sequences);
            // Sequences go with their herd.
            await again.RemoveAsync("herd", "h", default);
            Assert.Equal(0L, (await again.QueryAsync("SELECT count(*) FROM herd_sequences", r => r.GetInt64(0), default)).Single());
        }
    }
}
