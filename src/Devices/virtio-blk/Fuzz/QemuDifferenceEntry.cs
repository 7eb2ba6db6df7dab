namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// One row of <see cref="Qemu72Differences"/>: a difference between our robust model and QEMU that is QEMU's
/// legitimate behaviour (or a documented limit of the comparison), with what differs, why, and the QEMU source
/// function that decides it. <see cref="Explains"/> says whether the row accounts for one difference of a case; it is
/// narrow (it looks at the observations, never at the input bytes alone).
/// </summary>
internal sealed record QemuDifferenceEntry(
    string Id,
    string What,
    string Why,
    string QemuFunction,
    Func<DifferenceCase, BlkDifference, bool> Explains
);
