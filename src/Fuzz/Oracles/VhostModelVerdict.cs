namespace Virtsim.Fuzz.Oracles;

/// <summary>One judgement of <see cref="VhostIoctlModel"/>: what the model expected of an ioctl (errno or returned
/// value) and what the device said, for callers that tally agreement (the KVM lab's real-kernel oracle run).</summary>
public readonly record struct VhostModelVerdict(string Ioctl, string Expected, string Actual, bool Agrees);
