namespace Virtsim.Fuzz.Qemu;

/// <summary>One way the model's and QEMU's observations of the same input differ. <see cref="Kind"/> is one of
/// <see cref="BlkComparison"/>'s constants (a stable name: finding sites are built from it); <see cref="Offsets"/>
/// lists every differing guest-memory offset for <see cref="BlkComparison.GuestMemory"/>.</summary>
internal sealed record BlkDifference(string Kind, string Detail, IReadOnlyList<int>? Offsets = null) : IQemuDifference;
