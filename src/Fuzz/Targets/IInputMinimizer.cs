namespace Virtsim.Fuzz.Targets;

/// <summary>A typed minimiser hook: proposes smaller or simpler versions of an input in the target's own
/// terms (drop one operation, zero a field), tried before byte-level delta debugging. The engine keeps a
/// candidate when the same oracle and site still fire, and asks again until no candidate is kept.</summary>
public interface IInputMinimizer
{
    /// <summary>Candidates, most aggressive first. The engine tries only those <see cref="IsSimpler"/> than the input,
    /// so minimisation terminates. Enumerated lazily; the engine may skip a prefix (it resumes where the last kept
    /// candidate stood), so a deterministic, stable order makes minimisation fast.</summary>
    IEnumerable<byte[]> Candidates(byte[] input);

    /// <summary>The strict, well-founded order minimisation descends: true when <paramref name="candidate"/> is simpler
    /// than <paramref name="current"/>. Default: shorter, or as long and lexicographically smaller. A target may
    /// normalise bytes whose zero is not the simple value (a feature bit that is on when clear). Every pass, the
    /// byte-level ones too, keeps a candidate only when it is simpler in this order.</summary>
    bool IsSimpler(ReadOnlySpan<byte> candidate, ReadOnlySpan<byte> current) =>
        Engine.FindingMinimizer.IsSimpler(candidate, current);
}
