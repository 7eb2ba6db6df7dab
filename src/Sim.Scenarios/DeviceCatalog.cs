using Sim.Devices;
using Sim.Devices.Virtio.Blk;
using Sim.Devices.Virtio.Counter;
using Sim.Devices.Virtio.Demo;
using Sim.Devices.Virtio.Factorial;
using Sim.Devices.Virtio.Net;
using Sim.Devices.Virtio.Rng;
using Sim.Machine.Scenarios;
using Sim.Scenarios.Ping;

namespace Sim.Scenarios;

/// <summary>
/// The devices virtsim models, one entry each (docs/adding-a-device.md). Adding a device is one entry here plus its
/// files; everything that lists devices is produced from or checked against this list.
/// </summary>
public static class DeviceCatalog
{
    /// <summary>Blk backing store for fuzzing: 64 KiB (128 sectors) so reads and writes at any sector stay
    /// cheap.</summary>
    public const ulong BlkFuzzDiskBytes = 64 * 1024;

    /// <summary>Every device, in <c>virtsim run --list</c> order.</summary>
    public static IReadOnlyList<DeviceEntry> All { get; } =
    [
        new()
        {
            Name = "demo-pci",
            Source = "seed 000 lab 1",
            Scenarios = [new DemoScenario()],
            Traces = [new("demo", "demo --seed 1"), new("demo-seed", "demo --seed 1 --opt flavour=seed")],
        },
        new()
        {
            Name = "virtio-demo",
            Source = "seed 000 labs 2 and 3, seed 004",
            Scenarios = [new VirtioDemoScenario(), new VhostDemoScenario()],
            CreateVirtio = (_, fl) => new VirtioDemoDevice(fl),
            FuzzDescription = "seed 000 virtio-demo (QEMU-style) under hostile rings and register sequences",
            FuzzBackends = ["qemu", "vhost", "diff"],
            Traces =
            [
                new("virtio-demo", "virtio-demo --seed 1 --opt requests=32"),
                new(
                    "virtio-demo-legacy-exit",
                    "virtio-demo --seed 2 --opt requests=32 --opt transport=legacy --opt irq=intx --opt notify=exit"
                ),
                new("virtio-demo-seed", "virtio-demo --seed 3 --opt requests=16 --opt flavour=seed"),
                new("vhost-demo", "vhost-demo --seed 1 --opt requests=32"),
                new("vhost-demo-seed", "vhost-demo --seed 1 --opt flavour=seed"),
            ],
        },
        new()
        {
            Name = "virtio-factorial",
            Source = "seed 001",
            Scenarios = [new FactorialScenario()],
            CreateVirtio = (_, fl) => new VirtioFactorialDevice(fl),
            FuzzDescription = "seed 001 virtio factorial (QEMU-style) under hostile rings and register sequences",
            Traces =
            [
                new("factorial", "factorial --seed 1"),
                new("factorial-seed", "factorial --seed 1 --opt flavour=seed"),
            ],
        },
        new()
        {
            Name = "virtio-counter",
            Source = "seed 002",
            Scenarios = [new CounterScenario()],
            CreateVirtio = (sim, fl) => new VirtioCounterDevice(sim, new CounterDeviceOptions { Flavour = fl }),
            FuzzDescription =
                "seed 002 virtio counter (QEMU-style, device timer) under hostile rings and register sequences",
            Traces =
            [
                new("counter", "counter --seed 1"),
                new("counter-seed-legacy", "counter --seed 1 --opt flavour=seed --opt transport=legacy --opt irq=intx"),
            ],
        },
        new()
        {
            Name = "virtio-blk",
            Source = "seed 003",
            Scenarios = [new BlkScenario()],
            CreateVirtio = (_, fl) =>
                new VirtioBlkDevice(new MemoryBlockBackend(BlkFuzzDiskBytes), new BlkDeviceOptions { Flavour = fl }),
            FuzzDescription =
                "seed 003 virtio-blk (QEMU-style, 64 KiB memory disk) under hostile rings and register sequences",
            UsedLenCountsOffered = true,
            Traces =
            [
                new("blk", "blk --seed 1"),
                new("blk-modern-msix", "blk --seed 4 --opt transport=modern --opt irq=msix"),
                new("blk-seed", "blk --seed 1 --opt flavour=seed"),
            ],
        },
        new()
        {
            Name = "virtio-rng",
            Source = "VIRTIO 1.2 §5.4",
            Scenarios = [new RngScenario()],
            CreateVirtio = (sim, fl) => new VirtioRngDevice(sim.Prng.Fork(VirtioRngDevice.EntropyPrngStream), fl),
            FuzzDescription =
                "virtio-rng (VIRTIO 1.2 §5.4, entropy from the seeded PRNG) under hostile rings and register sequences",
            HasRealGuest = false,
            Traces =
            [
                new("rng", "rng --seed 1"),
                new("rng-seed-legacy", "rng --seed 2 --opt flavour=seed --opt transport=legacy --opt irq=intx"),
            ],
        },
        new()
        {
            Name = "virtio-net",
            Source = "VIRTIO 1.2 §5.1",
            Scenarios = [new NetScenario()],
            // The QEMU-style fuzz backend drives queue 0 (receiveq1): a source link offers a frame to every chain.
            CreateVirtio = (_, fl) => new VirtioNetDevice(new NetBackend(NetBackendMode.Source), fl),
            FuzzDescription =
                "virtio-net receiveq1 (VIRTIO 1.2 §5.1, a link that always has a frame waiting) "
                + "under hostile rings and register sequences",
            HasRealGuest = false,
            Traces =
            [
                new("net", "net --seed 1"),
                new(
                    "net-seed-legacy",
                    "net --seed 2 --opt flavour=seed --opt transport=legacy --opt irq=intx --opt frames=3"
                ),
            ],
        },
    ];

    /// <summary>The traces of the scenarios that drive no device ("ping": the KVM notification paths alone).</summary>
    public static IReadOnlyList<TraceRecipe> EngineTraces { get; } =
    [
        new("ping", "ping --seed 1 --opt requests=64"),
        new("ping-stale", "ping --seed 2 --opt requests=16 --opt stale=1"),
    ];

    /// <summary>Every committed simulated trace, engine scenarios first (what <c>scripts/regen-traces</c>
    /// makes).</summary>
    public static IEnumerable<TraceRecipe> AllTraces => EngineTraces.Concat(All.SelectMany(d => d.Traces));

    /// <summary>The scenarios that drive no device.</summary>
    internal static IReadOnlyList<IScenario> EngineScenarios { get; } = [new PingScenario()];

    /// <summary>The device called <paramref name="name"/> (ordinal), or null.</summary>
    public static DeviceEntry? Find(string name) =>
        All.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.Ordinal));
}
