namespace Ferry.Tests.Resolve;

/// <summary>One step of a random history: a write on a source, or one batch of one pair, or a replay.</summary>
public abstract record Step;

public sealed record Write(int Db, string Kind, int Key, int Key2, string Value) : Step
{
    public override string ToString() => Kind switch
    {
        "insert" => $"db{Db + 1}: upsert {Key}={Value}",
        "update" => $"db{Db + 1}: update {Key}={Value}",
        "rekey" => $"db{Db + 1}: update key {Key}->{Key2}",
        "delete" => $"db{Db + 1}: delete {Key}",
        _ => $"db{Db + 1}: truncate",
    };
}

/// <summary>Runs one batch of a pair, in chunks of <see cref="ChunkRows"/>.</summary>
public sealed record Deliver(int Pair, int ChunkRows) : Step
{
    public override string ToString() => $"deliver pair {Pair} (chunks of {ChunkRows})";
}

/// <summary>Puts a pair's progress back to where it was some steps ago, so batches are applied again.</summary>
public sealed record Replay(int Pair) : Step
{
    public override string ToString() => $"replay pair {Pair}";
}

/// <summary>A random case: how many sources, each database's clock skew in ms, and the steps.</summary>
public sealed record History(int Sources, int[] SkewMs, Step[] Steps)
{
    public override string ToString() =>
        $"sources={Sources} skew=[{string.Join(", ", SkewMs)}] ms\n  " + string.Join("\n  ", Steps.Select(s => s.ToString()));
}
