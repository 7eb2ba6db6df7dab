using Virtsim.Fuzz.Targets;

namespace Fuzz.Tests;

/// <summary>A target around the (instrumented or plain) magic-bytes toy.</summary>
internal sealed class MagicTarget(ToyContext.SpanCheck check) : IFuzzTarget
{
    public string Name => "toy-magic";

    public string Description => "4-byte magic compare chain";

    public int InputVersion => 1;

    public IReadOnlyList<string> InstrumentedAssemblies => [];

    public IMutator? StructureMutator => null;

    public IInputMinimizer? Minimizer => null;

    public FuzzOutcome Execute(ReadOnlySpan<byte> input, FuzzContext context)
    {
        check(input);
        return FuzzOutcome.Completed;
    }

    public IEnumerable<byte[]> SeedCorpus() =>
        [
            [(byte)'A', (byte)'A', (byte)'A', (byte)'A'],
        ];
}

/// <summary>A target whose behaviour each test scripts with a delegate.</summary>
internal sealed class ScriptedTarget(Func<byte[], FuzzContext, FuzzOutcome> run, params byte[][] seeds) : IFuzzTarget
{
    public string Name => NameOverride ?? "toy-scripted";

    /// <summary>Another name, for tests that run two targets into one findings directory.</summary>
    public string? NameOverride { get; init; }

    public string Description => "scripted by a test";

    public int InputVersion => 1;

    public IReadOnlyList<string> InstrumentedAssemblies => [];

    public IMutator? StructureMutator { get; init; }

    public IInputMinimizer? Minimizer { get; init; }

    public FuzzOutcome Execute(ReadOnlySpan<byte> input, FuzzContext context) => run(input.ToArray(), context);

    public IEnumerable<byte[]> SeedCorpus() => seeds;
}
