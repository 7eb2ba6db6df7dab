using Sim.Devices;
using Sim.Devices.Virtio.Blk;
using Sim.Machine.Simulation;
using Sim.Spec.Blk;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// The blk model half: our robust <see cref="VirtioBlkDevice"/> on a 64 KiB memory disk, behind the shared
/// <see cref="ModelVirtioRig"/> (modern transport, ioeventfd off).
/// </summary>
internal sealed class ModelBlkRig : ModelVirtioRig
{
    public ModelBlkRig(
        Simulation simulation,
        ReadOnlySpan<byte> disk,
        string serial,
        Targets.FuzzContext? context = null
    )
        : this(simulation, new MemoryBlockBackend(disk), serial, context) { }

    private ModelBlkRig(Simulation simulation, MemoryBlockBackend backend, string serial, Targets.FuzzContext? context)
        : base(
            simulation,
            new VirtioBlkDevice(backend, new BlkDeviceOptions { Flavour = Flavour.Robust, Serial = serial }),
            BlkSpec.PciClassStorageScsi,
            context
        )
    {
        Backend = backend;
        Device = (VirtioBlkDevice)VirtioDevice;
    }

    public MemoryBlockBackend Backend { get; }

    public VirtioBlkDevice Device { get; }
}
