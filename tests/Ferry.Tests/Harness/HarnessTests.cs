using Npgsql;
using Xunit;

namespace Ferry.Tests.Harness;

[Collection("servers")]
public sealed class HarnessTests(ServerFixture servers) : IDisposable
{
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromMinutes(2));

    private CancellationToken Ct => _timeout.Token;

    public void Dispose() => _timeout.Dispose();

    [Fact]
    public async Task Servers_start_and_answer()
    {
        for (var i = 0; i < ServerFixture.Count; i++)
        {
            Assert.Equal(1, await servers[i].ScalarAsync<int>("postgres", "select 1", Ct));
        }

        Assert.Equal("Pacific/Chatham", await servers[0].ScalarAsync<string>("postgres", "show timezone", Ct));
    }

    [Fact]
    public async Task Restricted_role_logs_in_with_its_password_only()
    {
        var db = await servers.CreateDatabasesAsync(nameof(Restricted_role_logs_in_with_its_password_only), Ct);

        await using (var connection = new NpgsqlConnection(RestrictedRole.ConnectionString(servers[1], db)))
        {
            await connection.OpenAsync(Ct);
            await using var command = new NpgsqlCommand("select current_user", connection);
            Assert.Equal(RestrictedRole.User, await command.ExecuteScalarAsync(Ct));
        }

        await using var wrong = new NpgsqlConnection(RestrictedRole.ConnectionString(servers[1], db, password: "not-the-secret"));
        var refused = await Assert.ThrowsAsync<PostgresException>(() => wrong.OpenAsync(Ct));
        Assert.Equal(PostgresErrorCodes.InvalidPassword, refused.SqlState); // 28P01
    }

    [Fact]
    public async Task Restricted_role_is_not_superuser()
    {
        var db = await servers.CreateDatabasesAsync(nameof(Restricted_role_is_not_superuser), Ct);
        await using var connection = new NpgsqlConnection(RestrictedRole.ConnectionString(servers[2], db));
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand("select rolsuper from pg_roles where rolname = current_user", connection);
        Assert.False((bool)(await command.ExecuteScalarAsync(Ct))!);
    }

    [Fact]
    public async Task Granted_tables_are_usable_by_both_roles_but_not_owned_by_ferry()
    {
        var db = await servers.CreateDatabasesAsync(nameof(Granted_tables_are_usable_by_both_roles_but_not_owned_by_ferry), Ct);
        var server = servers[0];
        await server.ExecuteAsync(db, """create table public."Mixed Case" (id serial primary key, note text)""", Ct);
        await RestrictedRole.GrantTablesAsync(server, db, ["public.\"Mixed Case\""], Ct);

        await using (var writer = new NpgsqlConnection(
            RestrictedRole.ConnectionString(server, db, RestrictedRole.Writer, RestrictedRole.WriterPassword)))
        {
            await writer.OpenAsync(Ct);
            await using var insert = new NpgsqlCommand("""insert into public."Mixed Case" (note) values ('hi')""", writer);
            await insert.ExecuteNonQueryAsync(Ct);
        }

        await using var ferry = new NpgsqlConnection(RestrictedRole.ConnectionString(server, db));
        await ferry.OpenAsync(Ct);
        await using var count = new NpgsqlCommand("select count(*) from public.\"Mixed Case\"", ferry);
        Assert.Equal(1L, await count.ExecuteScalarAsync(Ct));
        Assert.Equal(RestrictedRole.Owner, await server.ScalarAsync<string>(
            db, "select relowner::regrole::text from pg_class where oid = 'public.\"Mixed Case\"'::regclass", Ct));
    }

    [Fact]
    public async Task Server_stops_and_starts_again_on_the_same_port()
    {
        var server = servers[2];
        var port = server.Port;
        await server.StopAsync(Ct);
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => server.ScalarAsync<int>("postgres", "select 1", Ct));
        await server.StartAgainAsync(Ct);
        Assert.Equal(port, server.Port);
        var answer = await Eventually.UntilAsync(
            () => server.ScalarAsync<int>("postgres", "select 1", Ct), v => v == 1, TimeSpan.FromSeconds(30), "the restarted server");
        Assert.Equal(1, answer);
    }
}
