using Ferry.Install;
using Xunit;

namespace Ferry.Tests.Install;

public sealed class SequenceAdviceTests
{
    private static readonly SequenceAdvice.KeySequence Serial = new(new TableName("public", "orders"), "id", "orders_id_seq", false, 1);

    [Theory]
    [InlineData(1, 2, 10, 11)]
    [InlineData(2, 2, 10, 12)]
    [InlineData(1, 3, 0, 1)]
    [InlineData(3, 3, 7, 9)]
    public void each_source_restarts_above_the_highest_key_on_its_own_residue(int k, int n, long highest, long start)
    {
        Assert.Equal($"ALTER SEQUENCE orders_id_seq INCREMENT BY {n} RESTART WITH {start};", SequenceAdvice.Statement(Serial, k, n, highest));
    }

    [Fact]
    public void identity_columns_are_altered_through_their_table()
    {
        var identity = Serial with { Identity = true };
        Assert.Equal("ALTER TABLE \"public\".\"orders\" ALTER COLUMN \"id\" SET INCREMENT BY 2 RESTART WITH 6;",
            SequenceAdvice.Statement(identity, 2, 2, 5));
    }
}
