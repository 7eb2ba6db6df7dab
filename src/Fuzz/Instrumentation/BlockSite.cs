namespace Virtsim.Fuzz.Instrumentation;

/// <summary>
/// One SharpFuzz probe, traced back to source: its block id (what it XORs into the edge map and passes to
/// <c>Trace.OnBranch</c>), the method string the probe names (the exact <c>ldstr</c> operand of a callback build,
/// else Cecil's full name), the original IL offset of the instruction it guards, and the source lines of every
/// sequence point in its basic block (from that offset up to the next probed instruction) in
/// <paramref name="Document"/>, or none when the assembly has no PDB or the block is compiler-generated.
/// </summary>
public sealed record BlockSite(int Id, string Method, int IlOffset, string? Document, IReadOnlyList<int> Lines);
