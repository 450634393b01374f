using Ferry.Relay;
using Xunit;

namespace Ferry.Tests.Relay;

/// <summary>The arithmetic of carrying a sequence forward: no server needed.</summary>
public sealed class SequencePlanTests
{
    private static SequenceState Seq(long last, bool called, long increment, long cache = 1, long min = 1, long max = long.MaxValue) =>
        new(last, called, increment, min, max, cache);

    [Fact]
    public void a_target_behind_the_source_moves_just_past_the_last_value_the_source_handed_out()
    {
        // Source drew 1..5; a fresh target would hand out 1 next.
        var plan = SequencePlan.For(Seq(5, true, 1), Seq(1, false, 1));
        Assert.Equal(CatchUpKind.Nextval, plan.Kind);
        Assert.Equal(6, plan.Goal);
        Assert.Equal(5, plan.Steps);
    }

    [Fact]
    public void a_target_ahead_of_the_source_is_left_alone()
    {
        Assert.Equal(CatchUpKind.None, SequencePlan.For(Seq(5, true, 1), Seq(6, false, 1)).Kind);
        Assert.Equal(CatchUpKind.None, SequencePlan.For(Seq(5, true, 1), Seq(900, true, 1)).Kind);
        // A fresh source has handed out nothing: a fresh target is not behind it.
        Assert.Equal(CatchUpKind.None, SequencePlan.For(Seq(1, false, 1), Seq(1, false, 1)).Kind);
    }

    [Theory]
    // Master 2 of 2 (even values) behind master 1 (odd), which handed out up to 9: next even value above 9.
    [InlineData(9, 2, 2, false, 2, 10)]
    [InlineData(9, 2, 6, true, 2, 10)]
    // Master 1 (odd) behind master 2, which handed out up to 14: next odd value above 14.
    [InlineData(14, 2, 9, true, 2, 15)]
    // Three masters: master 3 counts 3, 6, 9, …; master 1 handed out up to 10.
    [InlineData(10, 3, 3, false, 3, 12)]
    // A replica counting by 1 goes just past it.
    [InlineData(14, 2, 3, true, 1, 15)]
    public void an_interleaved_target_stays_in_its_own_residue_class(long sourceLast, long sourceIncrement, long targetLast,
        bool targetCalled, long targetIncrement, long goal)
    {
        var target = Seq(targetLast, targetCalled, targetIncrement);
        var plan = SequencePlan.For(Seq(sourceLast, true, sourceIncrement), target);
        Assert.Equal(goal, plan.Goal);
        Assert.Equal((long)(target.Next % targetIncrement), goal % targetIncrement);
        Assert.True(goal > sourceLast);
    }

    [Fact]
    public void a_descending_sequence_moves_down_within_its_class()
    {
        // Source drew -1, -3, …, -9; the target counts -2, -4, … and would hand out -4 next.
        var plan = SequencePlan.For(Seq(-9, true, -2, min: long.MinValue, max: -1), Seq(-2, true, -2, min: long.MinValue, max: -1));
        Assert.Equal(CatchUpKind.Nextval, plan.Kind);
        Assert.Equal(-10, plan.Goal);
        Assert.Equal(CatchUpKind.None,
            SequencePlan.For(Seq(-9, true, -2, min: long.MinValue, max: -1), Seq(-12, true, -2, min: long.MinValue, max: -1)).Kind);
    }

    [Fact]
    public void opposite_directions_are_a_problem_not_a_move()
    {
        var plan = SequencePlan.For(Seq(5, true, 1), Seq(-5, true, -1, min: long.MinValue, max: -1));
        Assert.Equal(CatchUpKind.None, plan.Kind);
        Assert.Contains("counts up on the source but down on the target", plan.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void a_goal_beyond_the_maximum_is_a_problem_that_names_the_fix()
    {
        var plan = SequencePlan.For(Seq(3_000_000_000, true, 1), Seq(1, false, 1, max: int.MaxValue));
        Assert.Equal(CatchUpKind.None, plan.Kind);
        Assert.Contains($"MAXVALUE {int.MaxValue}", plan.Problem, StringComparison.Ordinal);
        Assert.Contains("AS bigint", plan.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void far_behind_takes_one_setval_and_a_few_steps_take_nextval()
    {
        Assert.Equal(CatchUpKind.Nextval, SequencePlan.For(Seq(1000, true, 1), Seq(1, false, 1)).Kind);
        Assert.Equal(CatchUpKind.Setval, SequencePlan.For(Seq(1001, true, 1), Seq(1, false, 1)).Kind);
        // A cached target refills a whole cache per call: the bound is in refills, capped in calls.
        Assert.Equal(CatchUpKind.Nextval, SequencePlan.For(Seq(50_000, true, 1), Seq(1, false, 1, cache: 50)).Kind);
        Assert.Equal(CatchUpKind.Setval, SequencePlan.For(Seq(200_000, true, 1), Seq(1, false, 1, cache: 1000)).Kind);
    }

    [Fact]
    public void values_near_the_ends_of_bigint_do_not_overflow()
    {
        var plan = SequencePlan.For(Seq(long.MaxValue - 10, true, 1), Seq(1, false, 1));
        Assert.Equal(long.MaxValue - 9, plan.Goal);
        Assert.Equal(CatchUpKind.None, SequencePlan.For(Seq(long.MaxValue, true, 1), Seq(1, false, 1)).Kind);
        Assert.NotNull(SequencePlan.For(Seq(long.MaxValue, true, 1), Seq(1, false, 1)).Problem);
    }
}
