using Virtsim.Fuzz.Targets.Minimizing;

namespace Virtsim.Fuzz.Targets;

/// <summary>
/// The typed minimiser for <see cref="VhostCoreInput"/> v1: a <see cref="FramedInputMinimizer"/> over the one-byte
/// header and the 20-byte operations. Simplest means: fewer operations (ioctls, kicks, runs, guest edits); each code
/// canonical; the variant choice <c>a</c> neutral; the small number <c>b</c> smaller; the vring selector <c>c</c>
/// cleared (vring 0); the raw values zero or short; then the smallest guest ring without EVENT_IDX.
/// </summary>
internal static class VhostCoreInputMinimizer
{
    public static IReadOnlyList<FrameField> HeaderFields { get; } = [new(0, 1, FrameFieldKind.Flags, 16)];

    public static IReadOnlyList<FrameField> OpFields { get; } =
    [
        new(0, 1, FrameFieldKind.Code, VhostCoreInput.OpCount),
        new(1, 1, FrameFieldKind.Choice),
        new(2, 1, FrameFieldKind.Small),
        new(3, 1, FrameFieldKind.Flags),
        new(4, 8, FrameFieldKind.Value),
        new(12, 8, FrameFieldKind.Value),
    ];

    public static FramedInputMinimizer Create(int operationsMax) =>
        new(VhostCoreInput.HeaderLength, VhostCoreInput.OpLength, operationsMax, HeaderFields, OpFields);
}
