using Sim.Devices;
using Sim.Scenarios;

namespace Virtsim.Fuzz.Targets;

/// <summary>
/// The registry of fuzz targets, by name (see <see cref="FuzzTargetName"/> for the <c>device-backend-flavour</c>
/// scheme). A device's QEMU-style backend target comes from its <see cref="DeviceCatalog"/> entry
/// (<see cref="DeviceEntry.CreateVirtio"/>; docs/adding-a-device.md); other targets implement <see cref="IFuzzTarget"/>
/// in <c>src/Fuzz/Targets/</c> and add their constructor to <see cref="Factories"/>. Each call creates fresh target
/// instances (targets hold reusable per-execution state).
/// </summary>
public static class FuzzTargets
{
    /// <summary>Blk backing store for fuzzing: 64 KiB (128 sectors) so reads and writes at any sector stay
    /// cheap.</summary>
    public const ulong BlkDiskBytes = DeviceCatalog.BlkFuzzDiskBytes;

    private static readonly Func<IFuzzTarget>[] Factories =
    [
        () => new GuestMemoryTarget(),
        () => new SplitVirtqueueTarget(),
        () => new DriverQueueTarget(),
        () => new BlockBackendTarget(),
        .. Both(f => new VirtioPciTarget(f)),
        .. Both(f => new VirtioPciTarget(f, vhostFrontend: true)),
        () => new VhostCoreTarget(),
        () => new DemoPciTarget(Flavour.Robust),
        () => new DemoPciTarget(Flavour.Seed),
        .. DeviceCatalog
            .All.Where(d => d.CreateVirtio is not null)
            .SelectMany(d =>
                Both(f => new VirtioBackendTarget(
                    d.Name,
                    f,
                    d.FuzzDescription,
                    d.CreateVirtio!,
                    d.UsedLenCountsOffered ? Oracles.UsedLenRule.Offered : Oracles.UsedLenRule.Written,
                    initialDisk: d.FuzzDiskImage
                ))
            ),
        .. Both(f => new VhostDemoTarget(f)),
        .. Both(f => new DemoDiffTarget(f)),
        // real QEMU through qtest, differential against the robust model (docs/qemu-backend.md)
        () => new Virtsim.Fuzz.Qemu.VirtioBlkQemuTarget(),
        // real QEMU virtio-rng-pci, same plumbing (docs/qemu-backend.md)
        () => new Virtsim.Fuzz.Qemu.VirtioRngQemuTarget(),
        () => new Virtsim.Fuzz.Qemu.VirtioNetQemuTarget(), // real QEMU virtio-net-pci, same plumbing
    ];

    private static Func<IFuzzTarget>[] Both(Func<Flavour, IFuzzTarget> make) =>
        [() => make(Flavour.Robust), () => make(Flavour.Seed)];

    /// <summary>Fresh instances of every target, ordered by name.</summary>
    public static IReadOnlyList<IFuzzTarget> All =>
        Factories.Select(f => f()).OrderBy(t => t.Name, StringComparer.Ordinal).ToArray();

    /// <summary>A fresh instance of the target called <paramref name="name"/> — a full name, or
    /// <c>device[-backend][-flavour]</c> with defaults filled in (first registered backend, robust) — or
    /// null.</summary>
    public static IFuzzTarget? Create(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (Func<IFuzzTarget> factory in Factories)
        {
            IFuzzTarget t = factory();
            if (string.Equals(t.Name, name, StringComparison.Ordinal))
                return t;
        }
        (string device, string? backend, Flavour? flavour) = FuzzTargetName.Split(name);
        foreach (Func<IFuzzTarget> factory in Factories)
        {
            IFuzzTarget t = factory();
            (string d, string? b, Flavour? f) = FuzzTargetName.Split(t.Name);
            if (
                d == device
                && b is not null
                && (backend is null || b == backend)
                && (f ?? Flavour.Robust) == (flavour ?? Flavour.Robust)
            )
                return t;
        }
        return null;
    }

    /// <summary>One line per target: name, then description (what <c>virtsim fuzz --list</c> prints).</summary>
    public static IEnumerable<string> ListLines() => All.Select(t => $"{t.Name}  {t.Description}");
}
