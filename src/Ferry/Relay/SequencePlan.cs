namespace Ferry.Relay;

/// <summary>
/// A sequence as its relation holds it (<c>SELECT last_value, is_called FROM seq</c>) with its definition from
/// <c>pg_sequence</c>. <c>last_value</c> is the high-water mark of every value handed out or cached by any session:
/// a session that caches takes its whole cache from the relation at once.
/// </summary>
public readonly record struct SequenceState(long LastValue, bool IsCalled, long Increment, long Min, long Max, long Cache)
{
    /// <summary>What the next nextval() returns, barring other callers: setval(x, false) and a fresh sequence hand out x itself.</summary>
    public Int128 Next => IsCalled ? (Int128)LastValue + Increment : LastValue;

    /// <summary>The furthest value handed out or cached: one step before <see cref="Next"/> (before the first call, nothing yet).</summary>
    public Int128 LastUsed => Next - Increment;
}

public enum CatchUpKind
{
    /// <summary>The target's next value is already beyond what the source handed out: nothing to do.</summary>
    None,

    /// <summary>A few steps behind: draw the values with nextval() until the next one reaches the goal.</summary>
    Nextval,

    /// <summary>Far behind: one setval(goal, false).</summary>
    Setval,
}

/// <summary>
/// How to carry one sequence forward from a source to a target, worked out from both states. Forward only, and
/// within the target's own residue class (its next value modulo its increment): with interleaved sequences (master k
/// of n counting k, k+n, k+2n, …) every master keeps to its own values, so it never hands out one another master
/// handed out or will hand out. The class is taken from the target's position rather than from its START, because
/// <c>ALTER SEQUENCE … RESTART WITH k</c> (what ferry's advice prints) moves the position and leaves START as it was.
/// A descending sequence is handled as the mirror image: "forward" is down, and the goal the largest value of its
/// class below the lowest the source handed out. A source and a target that count in opposite directions have no
/// forward in common: that is a problem, never a move (<c>ferry add sync</c> refuses such a herd).
/// </summary>
public sealed record SequencePlan(CatchUpKind Kind, long Goal, long Steps, long Increment, string? Problem = null)
{
    /// <summary>
    /// Up to this many cache refills behind, the target is moved with nextval(); further, with setval() (see
    /// <c>Relay/Sql/sequence_catch_up.sql</c> for why). A refill takes the sequence's buffer lock and costs about
    /// a microsecond or two: a thousand of them take milliseconds, far longer than a statement's read-then-setval.
    /// </summary>
    public const long NextvalRefills = 1000;

    /// <summary>Nor more than this many nextval() calls in one statement (about 0.2 s), whatever the cache.</summary>
    public const long NextvalMaxCalls = 100_000;

    
    public static SequencePlan For(SequenceState source, SequenceState target)
    {
        if (Math.Sign(source.Increment) != Math.Sign(target.Increment))
            return new SequencePlan(CatchUpKind.None, 0, 0, target.Increment,
                $"counts {(source.Increment > 0 ? "up" : "down")} on the source but {(target.Increment > 0 ? "up" : "down")} " +
                "on the target, so it has no forward both agree on; make it count the same way on both (ALTER SEQUENCE, as its owner)");
        // Forward coordinates: multiply by the direction, and a descending sequence reads as an ascending one.
        Int128 d = Math.Sign(target.Increment);
        var used = d * source.LastUsed;
        var next = d * target.Next;
        if (next > used) return new SequencePlan(CatchUpKind.None, 0, 0, target.Increment);
        var step = Int128.Abs(target.Increment);
        // The smallest value above `used` in the target's class (congruent to `next` modulo `step`).
        var steps = (used - next) / step + 1;
        var goal = d * (next + steps * step);
        if (goal > target.Max || goal < target.Min)
            return new SequencePlan(CatchUpKind.None, 0, 0, target.Increment,
                $"would have to move to {goal}, beyond its {(d > 0 ? $"MAXVALUE {target.Max}" : $"MINVALUE {target.Min}")}, to stay " +
                $"clear of the values the source handed out (up to {source.LastUsed}); widen its range (ALTER SEQUENCE ... " +
                $"{(d > 0 ? "MAXVALUE" : "MINVALUE")} ..., or AS bigint), as its owner");
        var nextval = steps <= NextvalRefills * Math.Max(1, target.Cache) && steps <= NextvalMaxCalls;
        return new SequencePlan(nextval ? CatchUpKind.Nextval : CatchUpKind.Setval, (long)goal, (long)steps, target.Increment);
    }
}
