namespace Virtsim.Fuzz.Targets.Minimizing;

/// <summary>How <see cref="FramedInputMinimizer"/> simplifies one field of a fixed-frame input.</summary>
internal enum FrameFieldKind : byte
{
    /// <summary>An operation code: only canonicalised (<c>value % Modulus</c>, the same operation); changing the
    /// operation is left to removing it.</summary>
    Code = 0,

    /// <summary>A categorical choice (address kind, placement): the neutral value, then canonical.</summary>
    Choice = 1,

    /// <summary>A raw little-endian value (address, length, next): the neutral value, then only its low 4, 2 and 1
    /// bytes.</summary>
    Value = 2,

    /// <summary>A small count or index (queue size log, descriptor index, chain shape): the neutral value, canonical,
    /// half, one less — toward smaller queues, lower indices and fewer descriptors.</summary>
    Small = 3,

    /// <summary>Flag bits: the neutral value, canonical, then each set bit cleared alone (each inverted bit set
    /// alone).</summary>
    Flags = 4,
}
