namespace Virtsim.Fuzz.Entry;

/// <summary>The subcommands of <c>virtsim fuzz</c> (<see cref="FuzzCommandLine"/>).</summary>
public enum FuzzMode
{
    /// <summary><c>fuzz list</c>: the targets, one per line.</summary>
    List,

    /// <summary><c>fuzz run</c>: our own engine; with <c>-o DIR</c> a campaign of worker processes.</summary>
    Run,

    /// <summary><c>fuzz reproduce &lt;input&gt;</c>: one input with every oracle armed.</summary>
    Reproduce,

    /// <summary><c>fuzz emit-test &lt;input&gt;</c>: an xUnit regression test holding the input.</summary>
    EmitTest,

    /// <summary><c>fuzz afl</c>: serve afl-fuzz's fork-server protocol.</summary>
    Afl,

    /// <summary><c>fuzz libfuzzer</c>: serve tools/libfuzzer-driver through SharpFuzz's
    /// <c>Fuzzer.LibFuzzer.Run</c>.</summary>
    LibFuzzer,

    /// <summary><c>fuzz worker</c> (hidden): one worker of a campaign, started by the supervisor.</summary>
    Worker,

    /// <summary><c>fuzz report &lt;dir&gt;</c>: the campaign's HTML report.</summary>
    Report,

    /// <summary><c>fuzz cmin</c>: corpus minimisation keeping every edge.</summary>
    Cmin,

    /// <summary><c>fuzz triage</c>: crash files of external engines to findings.</summary>
    Triage,

    /// <summary><c>fuzz blocks</c> (hidden): replays a corpus with SharpFuzz's branch callback and writes the blocks
    /// reached, for <c>fuzz report</c>'s source coverage (<see cref="Workers.BlockTraceEntry"/>).</summary>
    Blocks,
}
