using Sim.Devices;
using Sim.Devices.Virtio.Blk;
using Sim.Devices.Virtio.Counter;
using Sim.Devices.Virtio.Demo;
using Sim.Devices.Virtio.Factorial;
using Sim.Devices.Virtio.Net;
using Sim.Devices.Virtio.Rng;
using Sim.Engine;
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

    /// <summary>The robust counter's timer period for fuzzing: 300 µs of virtual time (the device's own 1 s never
    /// fires within an execution, which lasts at most a few hundred milliseconds of virtual time). 1.5 run windows,
    /// so ticks fall both inside a window and exactly on its end (600 µs).</summary>
    public const long CounterFuzzPeriodNs = 300_000;

    /// <summary>The blk fuzz disk's initial image (<see cref="BlkFuzzDiskBytes"/>): a fixed non-zero pattern, so a read
    /// of data the guest never wrote is judged against known bytes (a zeroed disk hides a device that loses its image
    /// or reads the wrong sector). Every byte is 0x01..0x7F: the taint oracle's poison (bytes 0x80..0xFF) never occurs
    /// in it. Each byte depends on its whole offset (sector and position), so an off-by-one sector or offset
    /// differs.</summary>
    public static ReadOnlyMemory<byte> BlkFuzzImage { get; } = MakeBlkFuzzImage();

    /// <summary>Every device, in <c>virtsim run --list</c> order.</summary>
    public static IReadOnlyList<DeviceEntry> All { get; } =
    [
        new()
        {
            Name = "demo-pci",
            Source = "seed 000 lab 1",
            Scenarios = [new DemoScenario()],
            Traces =
            [
                new(
                    "demo",
                    "demo --seed 1",
                    "seed 000 lab 1: PCI enumeration, BAR0 sizing, 0x1333/0x2333/0x3333 written and read back over "
                        + "MMIO exits"
                ),
                new("demo-seed", "demo --seed 1 --opt flavour=seed", "the same run as `demo` with the seed flavour"),
            ],
            SeedFlaws = [new("qemu", "model", "demo-pci/mmio-read")],
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
                new(
                    "virtio-demo",
                    "virtio-demo --seed 1 --opt requests=32",
                    "seed 000 lab 2: modern virtio-pci, MSI-X, ioeventfd notify"
                ),
                new(
                    "virtio-demo-legacy-exit",
                    "virtio-demo --seed 2 --opt requests=32 --opt transport=legacy --opt irq=intx --opt notify=exit",
                    "legacy I/O BAR, INTx + ISR, QUEUE_NOTIFY handled as a userspace exit"
                ),
                new(
                    "virtio-demo-seed",
                    "virtio-demo --seed 3 --opt requests=16 --opt flavour=seed",
                    "the seed flavour of virtio_demo_handle"
                ),
                new(
                    "vhost-demo",
                    "vhost-demo --seed 1 --opt requests=32",
                    "seed 000 lab 3 + seed 004: ioeventfd kick → vhost worker → call eventfd → irqfd"
                ),
                new(
                    "vhost-demo-seed",
                    "vhost-demo --seed 1 --opt flavour=seed",
                    "the seed's handle_demo_kick: used.len 0, and a worker that requeues itself until the run's event "
                        + "limit"
                ),
            ],
            SeedFlaws =
            [
                new("qemu", "used-ring", "used-ring/len-exceeds-written"),
                new("vhost", "hang", "hang/vhost-worker-livelock"),
                // The seed vhost worker livelocks before the two sides can be compared.
                new("diff", "hang", "hang/vhost-worker-livelock"),
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
                new(
                    "factorial",
                    "factorial --seed 1",
                    "seed 001: request/response with the disable_cb/enable_cb drain loop"
                ),
                new(
                    "factorial-seed",
                    "factorial --seed 1 --opt flavour=seed",
                    "the same run as `factorial` with the seed flavour"
                ),
            ],
            SeedFlaws = [new("qemu", "used-ring", "used-ring/len-exceeds-written")],
        },
        new()
        {
            Name = "virtio-counter",
            Source = "seed 002",
            Scenarios = [new CounterScenario()],
            // Robust: a short timer period so that ticks fire within an execution (the seed keeps seed 002's timing).
            CreateVirtio = (sim, fl) =>
                new VirtioCounterDevice(
                    sim,
                    fl == Flavour.Robust
                        ? new CounterDeviceOptions { Flavour = fl, PeriodNs = CounterFuzzPeriodNs }
                        : new CounterDeviceOptions { Flavour = fl }
                ),
            FuzzDescription =
                "seed 002 virtio counter (QEMU-style, device timer) under hostile rings and register sequences",
            Traces =
            [
                new(
                    "counter",
                    "counter --seed 1",
                    "seed 002: the device timer raises config-change interrupts, and the driver sends its counter"
                ),
                new(
                    "counter-seed-legacy",
                    "counter --seed 1 --opt flavour=seed --opt transport=legacy --opt irq=intx",
                    "the seed flavour: ticks are lost before DRIVER_OK, ISR 3"
                ),
            ],
            SeedFlaws = [new("qemu", "used-ring", "used-ring/len-exceeds-written")],
        },
        new()
        {
            Name = "virtio-blk",
            Source = "seed 003",
            Scenarios = [new BlkScenario()],
            CreateVirtio = (_, fl) =>
                new VirtioBlkDevice(new MemoryBlockBackend(BlkFuzzImage.Span), new BlkDeviceOptions { Flavour = fl }),
            FuzzDiskImage = BlkFuzzImage,
            FuzzDescription =
                "seed 003 virtio-blk (QEMU-style, 64 KiB memory disk with a fixed pattern) under hostile rings and "
                + "register sequences",
            UsedLenCountsOffered = true,
            Traces =
            [
                new(
                    "blk",
                    "blk --seed 1",
                    "seed 003: virtio-blk over the legacy I/O BAR, write and read back, GET_ID, FLUSH, an out-of-range "
                        + "IOERR"
                ),
                new(
                    "blk-modern-msix",
                    "blk --seed 4 --opt transport=modern --opt irq=msix",
                    "virtio-blk over the modern transport with MSI-X"
                ),
                new("blk-seed", "blk --seed 1 --opt flavour=seed", "the same run as `blk` with the seed flavour"),
            ],
            SeedFlaws = [new("qemu", "permission", "permission/read-outside-chain")],
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
                new(
                    "rng",
                    "rng --seed 1",
                    "virtio-rng (VIRTIO 1.2 §5.4): device-writable buffers filled from the seeded PRNG"
                ),
                new(
                    "rng-seed-legacy",
                    "rng --seed 2 --opt flavour=seed --opt transport=legacy --opt irq=intx",
                    "the seed flavour: used.len 64 whatever it wrote, over the legacy I/O BAR and INTx"
                ),
            ],
            SeedFlaws = [new("qemu", "used-ring", "used-ring/len-exceeds-written")],
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
                new(
                    "net",
                    "net --seed 1",
                    "virtio-net (VIRTIO 1.2 §5.1): frames on transmitq1 echoed by the loopback link into receiveq1"
                ),
                new(
                    "net-seed-legacy",
                    "net --seed 2 --opt flavour=seed --opt transport=legacy --opt irq=intx --opt frames=3",
                    "the seed flavour over the legacy I/O BAR and INTx (its flaw, used.len 12 + frame whatever "
                        + "fitted, needs buffers smaller than the frame: the fuzzer's job)"
                ),
            ],
            SeedFlaws = [new("qemu", "used-ring", "used-ring/len-exceeds-written")],
        },
    ];

    /// <summary>The traces of the scenarios that drive no device ("ping": the KVM notification paths alone).</summary>
    public static IReadOnlyList<TraceRecipe> EngineTraces { get; } =
    [
        new(
            "ping",
            "ping --seed 1 --opt requests=64",
            "ioeventfd kicks, eventfd coalescing, irqfd completions, a host timer, slow-path kicks that exit to "
                + "userspace"
        ),
        new(
            "ping-stale",
            "ping --seed 2 --opt requests=16 --opt stale=1",
            "**a memory image**: the responses page starts full of seeded bytes (one zlib chunk), checked on replay; "
                + "written with `checkpoint_interval_events` (the others carry the old key name)"
        ),
    ];

    /// <summary>Every committed simulated trace, engine scenarios first (what <c>scripts/regen-traces</c>
    /// makes).</summary>
    public static IEnumerable<TraceRecipe> AllTraces => EngineTraces.Concat(All.SelectMany(d => d.Traces));

    /// <summary>The scenarios that drive no device.</summary>
    internal static IReadOnlyList<IScenario> EngineScenarios { get; } = [new PingScenario()];

    /// <summary>The device called <paramref name="name"/> (ordinal), or null.</summary>
    public static DeviceEntry? Find(string name) =>
        All.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.Ordinal));

    private static byte[] MakeBlkFuzzImage()
    {
        var image = new byte[BlkFuzzDiskBytes];
        for (int i = 0; i < image.Length; i++)
        {
            // A multiplicative hash of the offset, folded to 1..127.
            uint h = Narrow.LowUInt32(Narrow.AsUInt64Bits(i) * 0x9E37_79B1UL);
            image[i] = Narrow.LowByte(1 + ((h >> 24) % 127));
        }
        return image;
    }
}
