using Sim.Devices;
using Sim.Devices.Virtio.Rng;
using Sim.Machine.Simulation;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// The rng model half: our robust <see cref="VirtioRngDevice"/> (entropy from the simulation's forked PRNG stream, as
/// the device catalogue gives it) behind the shared <see cref="ModelVirtioRig"/> (modern transport, ioeventfd off).
/// </summary>
internal sealed class ModelRngRig : ModelVirtioRig
{
    public ModelRngRig(Simulation simulation, Targets.FuzzContext? context = null)
        : base(
            simulation,
            new VirtioRngDevice(simulation.Prng.Fork(VirtioRngDevice.EntropyPrngStream), Flavour.Robust),
            Sim.Spec.Pci.PciDeviceIds.ClassOther,
            context
        )
    {
        Device = (VirtioRngDevice)VirtioDevice;
    }

    public VirtioRngDevice Device { get; }
}
