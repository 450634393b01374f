using Ferry.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Ferry.Tests.Scenarios;

/// <summary>
/// What several relays rely on when one still thinks it holds a pair another has taken over: two relays (two homes,
/// the same configuration) run the same pair at once while the source takes writes. The apply's position guard lets
/// only one of them commit each batch: no row is written twice on the target, and the pair's position never goes back.
/// </summary>
[Collection("scenario-servers")]
public sealed class TwoRelaysOnePair(ServerFixture servers, ITestOutputHelper output)
{
    private const int Rows = 3000;

    [Fact]
    public async Task two_relays_running_the_same_pair_never_apply_a_batch_twice_nor_move_its_position_back()
    {
        await using var t = await Topology.CreateAsync(servers, nameof(two_relays_running_the_same_pair_never_apply_a_batch_twice_nor_move_its_position_back),
            "CREATE TABLE items (id int PRIMARY KEY, v text)", ["public.items"]);
        // Every write into db2's table counted per row (as the superuser, out of the application's and ferry's reach):
        // a batch applied twice writes its rows twice.
        await servers[1].ExecuteAsync(t.Database, """
            CREATE TABLE public.writes (id int NOT NULL);
            CREATE FUNCTION public.count_write() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public
                AS $f$ BEGIN INSERT INTO public.writes VALUES (NEW.id); RETURN NEW; END $f$;
            CREATE TRIGGER count_write AFTER INSERT OR UPDATE ON public.items FOR EACH ROW EXECUTE FUNCTION public.count_write();
            """, default);
        await t.AddDatabasesAsync(2);
        using var second = new FerryCli();
        await second.OkAsync("install");
        for (var i = 0; i < 2; i++)
            await second.OkAsync("add", "database", Topology.NodeName(i), $"dbname={t.Database}", $"host={servers[i].Host}",
                $"port={servers[i].Port}", $"user={RestrictedRole.User}", $"pass={RestrictedRole.Password}");
        foreach (var cli in new[] { t.Cli, second })
        {
            cli.Environment["FERRY_CHUNK_ROWS"] = "200";
            await cli.OkAsync("add", "sync", "s", "tables=items", "dbs=db1:source,db2:target");
        }
        await Task.WhenAll(t.Cli.OkAsync("start"), second.OkAsync("start"));
        try
        {
            // The position as each relay leaves it: batches counted, and the snapshot's xmin.
            const string Position = "SELECT batches || ' ' || coalesce(pg_snapshot_xmin(applied_through)::text, '0') FROM ferry.progress " +
                                    "WHERE sync_name = 's' AND source_name = 'db1'";
            using var stop = new CancellationTokenSource();
            var seen = new List<(long Batches, long Xmin)>();
            var watcher = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    if (await servers[1].ScalarAsync<string?>(t.Database, Position, default) is { } p)
                    {
                        var parts = p.Split(' ');
                        seen.Add((long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture),
                            long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture)));
                    }
                    await Task.Delay(20);
                }
            });
            // Small statements over a few seconds: both relays wake for each and race for many batches.
            for (var i = 1; i <= Rows; i += 20)
            {
                await t.ExecAsync(0, "INSERT INTO items SELECT g, 'row ' || g FROM generate_series($1::int, $1::int + 19) AS g", i);
                await Task.Delay(15);
            }
            await Eventually.UntilAsync(() => t.ScalarAsync<long>(1, "SELECT count(*) FROM items"), n => n == Rows,
                TimeSpan.FromSeconds(60), "db2 to hold every row");
            await stop.CancelAsync();
            await watcher;

            var twice = await servers[1].ScalarAsync<long>(t.Database,
                "SELECT count(*) FROM (SELECT id FROM public.writes GROUP BY id HAVING count(*) > 1) AS w", default);
            var written = await servers[1].ScalarAsync<long>(t.Database, "SELECT count(DISTINCT id) FROM public.writes", default);
            var refused = t.LogLines("changed under the relay").Count + second.LogText.Split('\n').Count(l => l.Contains("changed under the relay", StringComparison.Ordinal));
            output.WriteLine($"{seen.Count} positions seen, last {seen[^1].Batches} batches; {refused} chunks refused by the guard");
            Assert.Equal(Rows, written);
            Assert.Equal(0, twice);
            for (var i = 1; i < seen.Count; i++)
            {
                Assert.True(seen[i].Batches >= seen[i - 1].Batches, $"batches went back: {seen[i - 1].Batches} then {seen[i].Batches}");
                Assert.True(seen[i].Xmin >= seen[i - 1].Xmin, $"the position went back: xmin {seen[i - 1].Xmin} then {seen[i].Xmin}");
            }
        }
        finally
        {
            await second.RunAsync("stop");
            await t.Cli.RunAsync("stop");
        }
    }
}
