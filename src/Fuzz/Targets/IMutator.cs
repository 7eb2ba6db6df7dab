using Sim.Engine.Random;

namespace Virtsim.Fuzz.Targets;

/// <summary>A structure-aware mutator a target supplies (it knows the input format: it can insert a
/// whole operation, change a field while keeping the framing). The engine interleaves it with byte-level
/// havoc. It must draw all randomness from the <see cref="Prng"/> it is passed (determinism) and must not allocate
/// per call on the hot path.</summary>
public interface IMutator
{
    /// <summary>Mutates <c>buffer[..length]</c> in place, growing up to <c>buffer.Length</c>, and returns
    /// the new length (0 ≤ result ≤ buffer.Length).</summary>
    int Mutate(Span<byte> buffer, int length, Prng prng);
}
