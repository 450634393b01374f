using System.Text.Json.Nodes;

namespace Ferry.Benchmarks;

/// <summary>A goal for one figure: <c>Metric Op Value</c>, e.g. <c>ratio &lt;= 2</c>.</summary>
public sealed record Target(string Metric, string Op, double Value)
{
    public bool MetBy(double actual) => Op switch
    {
        "<=" => actual <= Value,
        ">=" => actual >= Value,
        _ => throw new InvalidOperationException($"Unknown operator {Op}"),
    };

    public override string ToString() => $"{Metric} {Op} {Value.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
}

/// <summary>
/// What a scenario measured: its figures (JSON, snake_case, milliseconds unless the name says otherwise), the
/// baseline-relative ratio where there is one, its target, and a few lines for people.
/// </summary>
public sealed record ScenarioResult(string Name, JsonObject Figures, Target? Target, double? Actual, IReadOnlyList<string> Summary)
{
    public static ScenarioResult Failed(string name, Exception e) =>
        new(name, new JsonObject { ["error"] = e.GetType().Name + ": " + e.Message }, null, null, ["FAILED: " + e.Message]);

    public bool? Met => Target is null || Actual is null ? null : Target.MetBy(Actual.Value);

    public JsonObject ToJson()
    {
        var json = new JsonObject { ["name"] = Name };
        foreach (var (key, value) in Figures) json[key] = value?.DeepClone();
        if (Target is not null)
        {
            json["target"] = new JsonObject
            {
                ["metric"] = Target.Metric,
                ["op"] = Target.Op,
                ["value"] = Target.Value,
                ["met"] = Met,
            };
        }
        return json;
    }
}
