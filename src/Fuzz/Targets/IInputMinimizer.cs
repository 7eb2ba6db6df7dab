namespace Fuzz.Targets;

/// <summary>A typed minimiser hook: proposes smaller or simpler versions of an input in the target's own
/// terms (drop one operation, zero a field), tried before byte-level delta debugging. The engine keeps a
/// candidate when the same oracle and site still fire, and asks again until no candidate is kept.</summary>
public interface IInputMinimizer
{
    /// <summary>Candidates, most aggressive first. Each must be strictly "simpler" than the input
    /// (shorter, or same length and lexicographically smaller) so minimisation terminates.</summary>
    IEnumerable<byte[]> Candidates(byte[] input);
}
