using System.Globalization;
using Sim.Devices;
using Sim.Devices.Virtio.Blk;
using Sim.Devices.Virtio.Transport;
using Sim.Engine;
using Sim.Guest.Drivers;
using Sim.Guest.Drivers.Blk;
using Sim.Machine.Scenarios;
using Sim.Machine.Simulation;
using Sim.Spec.Blk;

namespace Sim.Scenarios;

/// <summary>
/// "blk": seed 003. A virtio-blk device (legacy virtio-pci I/O BAR and INTx + ISR by default, as the seed
/// describes) on an in-memory disk or an image file; the guest's test program does GET_ID, writes random data and
/// reads it back, FLUSH, and an out-of-range read that must be IOERR, then the per-request summary. Options:
/// <c>writes=N</c> (default 4), <c>sectors=N</c> per request (default 2), <c>size=</c> disk bytes (default 1 MiB,
/// a multiple of 512), <c>image=</c> path of an existing image file (host side; replaces size),
/// <c>flavour=robust|seed</c>, <c>transport=legacy|modern</c>, <c>irq=intx|msix</c>, <c>notify=ioeventfd|exit</c>.
/// </summary>
public sealed class BlkScenario : IScenario
{
    /// <summary>The bus-0 PCI slot the device is plugged into.</summary>
    public const int Slot = 6;

    /// <summary>Most write/read-back rounds the option accepts.</summary>
    public const long WritesMax = 10_000;

    /// <summary>Default disk size: 1 MiB.</summary>
    public const long SizeDefault = 1 << 20;

    /// <inheritdoc/>
    public string Name => "blk";

    /// <inheritdoc/>
    public string Description =>
        "seed 003: virtio-blk over the legacy I/O BAR, write/read-back, GET_ID, FLUSH, out-of-range IOERR";

    /// <inheritdoc/>
    public IReadOnlyList<ScenarioOption> Options { get; } =
    [
        ScenarioOption.Int("writes", 4, 0, WritesMax, "write/read-back rounds"),
        ScenarioOption.Int("sectors", 2, 1, VirtioBlkDriver.DataBytesMax / BlkSpec.SectorSize, "sectors per request"),
        new ScenarioOption(
            "size",
            SizeDefault.ToString(System.Globalization.CultureInfo.InvariantCulture),
            $"a multiple of {BlkSpec.SectorSize} in {BlkSpec.SectorSize}..{MemoryBlockBackend.SizeBytesMax}",
            "disk size in bytes (in-memory disk)"
        ),
        new ScenarioOption(
            "image",
            ScenarioOption.DerivedDefault + "none: an in-memory disk",
            "a file path",
            "back the disk by this image file instead"
        ),
        ScenarioOption.Flavour,
        ScenarioChoices.TransportOption("legacy"),
        ScenarioChoices.IrqOption("intx"),
        ScenarioChoices.NotifyOption,
    ];

    /// <inheritdoc/>
    public ScenarioRun Create(ScenarioOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.RequireKnown(Options);
        int writes = Narrow.LowInt32(options.GetInt64("writes", 4, 0, WritesMax));
        int sectors = Narrow.LowInt32(
            options.GetInt64("sectors", 2, 1, VirtioBlkDriver.DataBytesMax / BlkSpec.SectorSize)
        );
        long size = options.GetInt64("size", SizeDefault, BlkSpec.SectorSize, (long)MemoryBlockBackend.SizeBytesMax);
        if (size % BlkSpec.SectorSize != 0)
            throw new ArgumentException($"option 'size' must be a multiple of {BlkSpec.SectorSize}");
        string image = options.GetString("image", "");
        Flavour flavour = ScenarioChoices.GetFlavour(options);
        VirtioDriverTransport transport = ScenarioChoices.GetTransport(options, "legacy");
        VirtioInterruptMode irq = ScenarioChoices.GetInterruptMode(options, "intx");
        bool ioeventfd = ScenarioChoices.GetUseIoEventFd(options);

        IBlockBackend disk =
            image.Length > 0 ? StreamBlockBackend.Open(image) : new MemoryBlockBackend(Narrow.AsUInt64Bits(size));
        var machine = new PciMachine(options.ToSimulationOptions(Name));
        Simulation sim = machine.Simulation;
        var device = new VirtioBlkDevice(disk, new BlkDeviceOptions { Flavour = flavour });
        var pci = new VirtioPciTransport(
            sim,
            device,
            ScenarioChoices.TransportOptions(transport, irq, ioeventfd) with
            {
                Mode = VirtioPciMode.Transitional,
                ClassCode = BlkSpec.PciClassStorageScsi,
                Flavour = flavour,
            }
        );
        machine.Attach(Slot, pci);
        var report = new PerRequestReport(sim.Counters);
        var guest = new BlkGuest(writes, sectors, report, transport, irq, machine.IntxGsi);
        sim.Kvm.Start(guest);
        return new ScenarioRun(sim, () =>
            [
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"device: flavour={ScenarioChoices.Name(flavour)} capacity={device.CapacitySectors} {device.Stats} "
                        + $"broken={(device.IsBroken ? 1 : 0)}"
                ),
                report.Line(),
            ]
        );
    }
}
