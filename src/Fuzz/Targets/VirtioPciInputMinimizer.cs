using Virtsim.Fuzz.Targets.Minimizing;

namespace Virtsim.Fuzz.Targets;

/// <summary>
/// The typed minimiser for <see cref="VirtioPciInput"/> v1: a <see cref="FramedInputMinimizer"/> over the one-byte
/// header and the 12-byte operations. Simplest means: fewer operations; each code canonical; the choice byte's flags
/// cleared one by one (access size bits toward 1 byte, register bias off); the register index smaller; the value
/// zero or short; then no MSI-X vectors and ioeventfd on (header bits clear).
/// </summary>
internal static class VirtioPciInputMinimizer
{
    public static IReadOnlyList<FrameField> HeaderFields { get; } = [new(0, 1, FrameFieldKind.Flags, 4)];

    public static IReadOnlyList<FrameField> OpFields { get; } =
    [
        new(0, 1, FrameFieldKind.Code, VirtioPciInput.OpCount),
        new(1, 1, FrameFieldKind.Flags),
        new(2, 2, FrameFieldKind.Small),
        new(4, 8, FrameFieldKind.Value),
    ];

    public static FramedInputMinimizer Create(int operationsMax) =>
        new(VirtioPciInput.HeaderLength, VirtioPciInput.OpLength, operationsMax, HeaderFields, OpFields);
}
