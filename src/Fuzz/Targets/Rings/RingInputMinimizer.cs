using Virtsim.Fuzz.Targets.Minimizing;

namespace Virtsim.Fuzz.Targets.Rings;

/// <summary>
/// The typed minimiser for <see cref="RingInput"/> v1 (split-virtqueue, the QEMU-style backends, vhost): a
/// <see cref="FramedInputMinimizer"/> over the 4-byte header and the 19-byte operations. Simplest means: fewer
/// operations; each operation's code canonical (<c>op % 16</c>), address and length kinds 0 (the data area, small
/// lengths), raw values zero or short, flags cleared, indices (descriptor index, chain shape, run windows) smaller;
/// then the smallest queue, EVENT_IDX and NOTIFY_ON_EMPTY off, INDIRECT_DESC off (its header bit is set to turn it
/// off, so that bit counts inverted), the default ring placement.
/// </summary>
internal static class RingInputMinimizer
{
    /// <summary>Header bit that turns VIRTIO_F_INDIRECT_DESC off (<see cref="RingInput.ReadHeader"/>).</summary>
    public const byte IndirectOffBit = 4;

    /// <summary>The header's fields: size log (mod 9), features, placement, target byte.</summary>
    public static IReadOnlyList<FrameField> HeaderFields { get; } =
    [
        new(0, 1, FrameFieldKind.Small, RingInput.SizeLogMax + 1),
        new(1, 1, FrameFieldKind.Flags, 8, IndirectOffBit),
        new(2, 1, FrameFieldKind.Choice, 8),
        new(3, 1, FrameFieldKind.Value),
    ];

    /// <summary>An operation's fields (offsets as in <see cref="RingInput"/>).</summary>
    public static IReadOnlyList<FrameField> OpFields { get; } =
    [
        new(0, 1, FrameFieldKind.Code, RingInput.OpCount),
        new(RingInput.AddrKindOffset, 1, FrameFieldKind.Choice, 8),
        new(RingInput.AddrOffset, 8, FrameFieldKind.Value),
        new(RingInput.LenKindOffset, 1, FrameFieldKind.Choice, 8),
        new(RingInput.LenOffset, 4, FrameFieldKind.Value),
        new(RingInput.FlagsOffset, 1, FrameFieldKind.Flags, 8),
        new(RingInput.NextOffset, 2, FrameFieldKind.Value),
        new(RingInput.IndexOffset, 1, FrameFieldKind.Small),
    ];

    /// <summary>A minimiser for a target that decodes at most <paramref name="operationsMax"/> operations.</summary>
    public static FramedInputMinimizer Create(int operationsMax) =>
        new(RingInput.HeaderLength, RingInput.OpLength, operationsMax, HeaderFields, OpFields);
}
