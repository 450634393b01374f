using Ferry.Postgres;
using Xunit;

namespace Ferry.Tests.Install;

/// <summary>
/// How ferry's SQL templates are filled: what a value inserts is text, never template. No server needed; the
/// scenario with real hostile names is Scenarios/HostileNames.
/// </summary>
public sealed class SqlFillTests
{
    [Fact]
    public void a_value_is_never_read_again_and_a_placeholder_in_a_comment_stays_as_written()
    {
        var filled = SqlResources.Fill("-- {{a}} here\nSELECT {{a}}, {{b}}", new Dictionary<string, string>
        {
            ["a"] = Quote.Ident("{{b}}\nx"),
            ["b"] = "2",
        });
        Assert.Equal("-- {{a}} here\nSELECT \"{{b}}\nx\", 2", filled);
    }

    [Fact]
    public void a_placeholder_without_a_value_is_named()
    {
        var e = Assert.Throws<InvalidOperationException>(() =>
            SqlResources.Fill("SELECT {{a}}, {{missing}}", new Dictionary<string, string> { ["a"] = "1" }));
        Assert.Contains("{{missing}}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void dollar_tags_are_kept_unless_a_value_could_close_them_then_renamed_everywhere()
    {
        const string template = "CREATE FUNCTION f() AS $fn$ SELECT {{t}} $fn$; DO $do$ BEGIN END $do$;";
        Assert.Equal("CREATE FUNCTION f() AS $fn$ SELECT \"t\" $fn$; DO $do$ BEGIN END $do$;",
            SqlResources.Fill(template, new Dictionary<string, string> { ["t"] = Quote.Ident("t") }));

        // The name holds $fn$ and the first renaming, $fn_1$: the tags must avoid both.
        var hostile = Quote.Ident("x$fn$y$fn_1$");
        var filled = SqlResources.Fill(template, new Dictionary<string, string> { ["t"] = hostile });
        Assert.Equal($"CREATE FUNCTION f() AS $fn_2$ SELECT {hostile} $fn_2$; DO $do_2$ BEGIN END $do_2$;", filled);

        // A tag made across a value's edge: a value ending in "$fn_1" before the template's own tag.
        var edge = SqlResources.Fill("AS $fn$ {{t}}$fn$", new Dictionary<string, string> { ["t"] = "$fn$ $fn_1" });
        Assert.Equal("AS $fn_2$ $fn$ $fn_1$fn_2$", edge);
    }

    [Fact]
    public void a_literal_with_a_backslash_is_an_escape_string_whatever_standard_conforming_strings_says()
    {
        Assert.Equal("'it''s'", Quote.Literal("it's"));
        Assert.Equal(@"E'a\\''b'", Quote.Literal(@"a\'b"));
    }
}
