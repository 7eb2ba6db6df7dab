namespace Virtsim.Fuzz.Qemu;

/// <summary>One row of <see cref="NetQemu72Differences"/>: what differs between our robust virtio-net model and QEMU,
/// why it is QEMU's legitimate behaviour, the QEMU function that decides it, and which differences of an input of
/// <c>virtio-net-qemu-real</c> it explains.</summary>
internal sealed record NetDifferenceRow(
    string Id,
    string What,
    string Why,
    string QemuFunction,
    Func<NetCase, NetDifference, bool> Explains
);

/// <summary>The observations and facts of one net input, for the rows.</summary>
internal sealed record NetCase(NetObservation Model, NetObservation Qemu, NetRunFacts Facts);
