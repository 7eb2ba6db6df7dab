using Xunit;

namespace Fuzz.Tests.Qemu;

/// <summary>Every test class that executes a real-QEMU target (<see cref="Virtsim.Fuzz.Qemu.RealQemuTarget"/>): each
/// device has one QEMU and one lockstep per process, and its facts (<c>VirtioNetQemuTarget.LastFacts</c>,
/// <c>VirtioRngQemuTarget.LastFacts</c>) are static, so classes that run in parallel read another class's input's
/// facts (the CI run of 2139d38 failed on exactly that: FindingTraceTests ran the net target beside
/// QemuNetTransmitTests). The classes of this collection run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class RealQemuCollection
{
    public const string Name = "real QEMU sessions";
}
