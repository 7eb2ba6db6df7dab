using Xunit;

namespace Virtsim.Cli.Tests;

/// <summary>Tests that run instrumented fuzzing in this process (<c>CliRunner.Run("fuzz", ...)</c>) run one at a time:
/// SharpFuzz's trace map (<c>Trace.SharedMem</c>, <c>Trace.PrevLocation</c>) is one per process, so two in-process
/// campaigns at once would write each other's edges.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TraceMapCollection
{
    public const string Name = "trace-map";
}
