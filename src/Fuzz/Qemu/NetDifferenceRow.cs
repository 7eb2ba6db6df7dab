namespace Virtsim.Fuzz.Qemu;

/// <summary>One row of <see cref="NetQemu72Differences"/>: what differs between our robust virtio-net model and QEMU,
/// why it is QEMU's legitimate behaviour, and the QEMU function that decides it.</summary>
public sealed record NetDifferenceRow(string Id, string What, string Why, string QemuFunction);
