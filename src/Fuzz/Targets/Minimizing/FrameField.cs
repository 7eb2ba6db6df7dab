namespace Virtsim.Fuzz.Targets.Minimizing;

/// <summary>One little-endian field of a header or an operation in a fixed-frame input.</summary>
/// <param name="Offset">Byte offset within the header or the operation.</param>
/// <param name="Width">1 to 8 bytes.</param>
/// <param name="Kind">How it is simplified.</param>
/// <param name="Modulus">The decoder reads <c>value % Modulus</c> (0: the whole value); canonicalisation uses
/// it.</param>
/// <param name="InvertedBits">Bits (of a 1-byte field) whose SET state is the simple one, e.g. a feature that is on
/// while its bit is clear: the neutral value has them set and the minimiser's order counts them inverted.</param>
internal readonly record struct FrameField(
    int Offset,
    int Width,
    FrameFieldKind Kind,
    int Modulus = 0,
    byte InvertedBits = 0
)
{
    /// <summary>The field's simplest value: zero, with the inverted bits set.</summary>
    public ulong Neutral => InvertedBits;
}
