using Sim.Devices;
using Sim.Devices.Virtio.Transport;
using Sim.Machine.Scenarios;
using Sim.Machine.Simulation;

namespace Sim.Scenarios;

/// <summary>
/// Everything virtsim knows about one device, in one place (docs/adding-a-device.md): its name, where its behaviour
/// comes from, its flavours, its scenarios, how the fuzzer builds it, and the committed traces it is replayed from.
/// The scenario list (<c>virtsim run --list</c>), the fuzz target list (<c>virtsim fuzz --list</c>),
/// <c>scripts/regen-traces</c> (<c>virtsim run --list-traces</c>) and the tests that iterate devices all read
/// <see cref="DeviceCatalog"/>.
/// </summary>
public sealed record DeviceEntry
{
    /// <summary>The device's name, the first part of its fuzz target names (<c>virtio-rng</c> →
    /// <c>virtio-rng-qemu-robust</c>).</summary>
    public required string Name { get; init; }

    /// <summary>Where its behaviour comes from: a seed document, a spec section.</summary>
    public required string Source { get; init; }

    /// <summary>The scenarios that run it (<c>virtsim run</c>), in <c>--list</c> order.</summary>
    public required IReadOnlyList<IScenario> Scenarios { get; init; }

    /// <summary>The flavours the device offers (every device offers both; see <see cref="Flavour"/>).</summary>
    public IReadOnlyList<Flavour> Flavours { get; init; } = [Flavour.Robust, Flavour.Seed];

    /// <summary>Builds the virtio device for the generic QEMU-style fuzz backend (hostile rings and register
    /// sequences on the modern transport), or null when the device is not a virtio device or needs its own
    /// target.</summary>
    public Func<Simulation, Flavour, VirtioDevice>? CreateVirtio { get; init; }

    /// <summary>The image the disk of <see cref="CreateVirtio"/>'s device starts from (blk), empty for a device
    /// without one: the fuzzer's response oracle starts its model of the disk from it, not from the device's disk, so
    /// a device that loses or misplaces its image is judged.</summary>
    public ReadOnlyMemory<byte> FuzzDiskImage { get; init; }

    /// <summary>What its QEMU-style fuzz target says in <c>virtsim fuzz --list</c> (the oracles are
    /// appended).</summary>
    public string FuzzDescription { get; init; } = "";

    /// <summary>True when the device reports the bytes it was offered as used.len rather than the bytes it wrote
    /// (QEMU virtio-blk): the fuzzer's used-ring oracle then bounds len by the offered bytes.</summary>
    public bool UsedLenCountsOffered { get; init; }

    /// <summary>Fuzz backends with a target for this device (<c>qemu</c>, <c>vhost</c>, <c>diff</c>, ...), each in
    /// every flavour; the fuzz target registry is checked against this list.</summary>
    public IReadOnlyList<string> FuzzBackends { get; init; } = ["qemu"];

    /// <summary>True when <c>guest/</c> has a real guest program for its scenarios (recording on KVM).</summary>
    public bool HasRealGuest { get; init; } = true;

    /// <summary>The committed simulated traces (<c>traces/sim/&lt;name&gt;.vtrace</c>) and the <c>virtsim run</c>
    /// arguments that make them.</summary>
    public IReadOnlyList<TraceRecipe> Traces { get; init; } = [];

    /// <summary>The flaw each fuzz backend's seed-flavour target must find (one per entry of
    /// <see cref="FuzzBackends"/>): the CI fuzz pass (<c>CiFuzzPassTests</c>) runs each and fails unless the finding
    /// shows up, so the flaw the seed flavour reproduces stays reachable by the fuzzer.</summary>
    public IReadOnlyList<KnownFlaw> SeedFlaws { get; init; } = [];
}

/// <summary>One committed simulated trace: its file name under <c>traces/sim/</c> (without <c>.vtrace</c>), the
/// <c>virtsim run</c> arguments that produce it, and what it exercises (its row in <c>traces/README.md</c>, which is
/// generated from these).</summary>
public sealed record TraceRecipe(string Name, string Arguments, string Exercises);

/// <summary>A seed flavour's known flaw as the fuzzer reports it: the finding the <paramref name="Backend"/>'s
/// seed-flavour target (<c>&lt;device&gt;-&lt;backend&gt;-seed</c>) must produce, by <paramref name="Oracle"/> at
/// <paramref name="Site"/> (names as in <c>virtsim fuzz</c>'s findings).</summary>
public sealed record KnownFlaw(string Backend, string Oracle, string Site);
