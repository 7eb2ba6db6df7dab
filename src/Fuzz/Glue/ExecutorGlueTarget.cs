using Virtsim.Fuzz.Engine;

namespace Virtsim.Fuzz.Glue;

/// <summary>An <see cref="IGlueTarget"/> over our own <see cref="FuzzExecutor"/> (its oracles, limits and
/// coverage): the same execution a <c>virtsim fuzz</c> campaign performs, so a crash an external engine files
/// reproduces with <c>--reproduce</c>.</summary>
internal sealed class ExecutorGlueTarget : IGlueTarget
{
    private readonly FuzzExecutor _executor;

    public ExecutorGlueTarget(FuzzExecutor executor) => _executor = executor;

    public GlueVerdict Run(ReadOnlySpan<byte> input) => GlueVerdict.From(_executor.Execute(input).Finding);

    public ReadOnlySpan<byte> Map => _executor.Coverage.Map;
}
