using Sim.Devices;
using Sim.Devices.Virtio.Blk;
using Sim.Devices.Virtio.Counter;
using Sim.Devices.Virtio.Demo;
using Sim.Devices.Virtio.Factorial;

namespace Fuzz.Targets;

/// <summary>
/// The registry of fuzz targets, by name (see <see cref="FuzzTargetName"/> for the <c>device-backend-flavour</c>
/// scheme). To add one: implement <see cref="IFuzzTarget"/> in <c>src/Fuzz/Targets/</c> and add its constructor to
/// <see cref="Factories"/>. Each call creates fresh target instances (targets hold reusable per-execution state).
/// </summary>
public static class FuzzTargets
{
    /// <summary>Blk backing store for fuzzing: 64 KiB (128 sectors) so reads and writes at any sector stay cheap.</summary>
    public const ulong BlkDiskBytes = 64 * 1024;

    private static readonly Func<IFuzzTarget>[] Factories =
    [
        () => new GuestMemoryTarget(),
        () => new SplitVirtqueueTarget(),
        .. Both(f => new VirtioPciTarget(f)),
        () => new VhostCoreTarget(),
        () => new DemoPciTarget(Flavour.Robust),
        () => new DemoPciTarget(Flavour.Seed),
        .. Both(f => new VirtioBackendTarget("virtio-demo", f, "seed 000 virtio-demo (QEMU-style) under hostile rings and register sequences", (_, fl) => new VirtioDemoDevice(fl))),
        .. Both(f => new VhostDemoTarget(f)),
        .. Both(f => new DemoDiffTarget(f)),
        .. Both(f => new VirtioBackendTarget("virtio-factorial", f, "seed 001 virtio factorial (QEMU-style) under hostile rings and register sequences", (_, fl) => new VirtioFactorialDevice(fl))),
        .. Both(f => new VirtioBackendTarget("virtio-counter", f, "seed 002 virtio counter (QEMU-style, device timer) under hostile rings and register sequences", (sim, fl) => new VirtioCounterDevice(sim, new CounterDeviceOptions { Flavour = fl }))),
        () => new Fuzz.Qemu.VirtioBlkQemuTarget(), // real QEMU through qtest, differential against the robust model (docs/qemu-backend.md)
        .. Both(f => new VirtioBackendTarget("virtio-blk", f, "seed 003 virtio-blk (QEMU-style, 64 KiB memory disk) under hostile rings and register sequences", (_, fl) => new VirtioBlkDevice(new MemoryBlockBackend(BlkDiskBytes), new BlkDeviceOptions { Flavour = fl }), Checkers.UsedLenRule.Offered)),
    ];

    private static Func<IFuzzTarget>[] Both(Func<Flavour, IFuzzTarget> make) => [() => make(Flavour.Robust), () => make(Flavour.Seed)];

    /// <summary>Fresh instances of every target, ordered by name.</summary>
    public static IReadOnlyList<IFuzzTarget> All => Factories.Select(f => f()).OrderBy(t => t.Name, StringComparer.Ordinal).ToArray();

    /// <summary>A fresh instance of the target called <paramref name="name"/> — a full name, or
    /// <c>device[-backend][-flavour]</c> with defaults filled in (first registered backend, robust) — or null.</summary>
    public static IFuzzTarget? Create(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (Func<IFuzzTarget> factory in Factories)
        {
            IFuzzTarget t = factory();
            if (string.Equals(t.Name, name, StringComparison.Ordinal)) return t;
        }
        (string device, string? backend, Flavour? flavour) = FuzzTargetName.Split(name);
        foreach (Func<IFuzzTarget> factory in Factories)
        {
            IFuzzTarget t = factory();
            (string d, string? b, Flavour? f) = FuzzTargetName.Split(t.Name);
            if (d == device && b is not null && (backend is null || b == backend) && (f ?? Flavour.Robust) == (flavour ?? Flavour.Robust)) return t;
        }
        return null;
    }

    /// <summary>One line per target: name, then description (what <c>virtsim fuzz --list</c> prints).</summary>
    public static IEnumerable<string> ListLines() => All.Select(t => $"{t.Name}  {t.Description}");
}
