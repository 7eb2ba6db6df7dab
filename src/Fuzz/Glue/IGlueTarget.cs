namespace Fuzz.Glue;

/// <summary>
/// The narrow seam between byte-level engine glue (<see cref="AflForkServer"/>, <see cref="LibFuzzerPipeServer"/>)
/// and virtsim: run one input, then show the edge map it left. A real SharpFuzz could replace the glue above this
/// seam (its <c>Fuzzer.Run</c>/<c>LibFuzzer.Run</c> would call <see cref="Run"/> and throw on a crash verdict)
/// or the map below it (its own trace bits), without touching targets or oracles.
/// </summary>
public interface IGlueTarget
{
    /// <summary>Runs one input with every oracle armed; never throws for anything the input does.</summary>
    GlueVerdict Run(ReadOnlySpan<byte> input);

    /// <summary>AFL-style hit-count map of the last <see cref="Run"/> (empty when coverage is unavailable).</summary>
    ReadOnlySpan<byte> Map { get; }
}
