using Sim.Devices;
using Sim.Devices.Virtio.Net;
using Sim.Machine.Simulation;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// The net model half: our robust <see cref="VirtioNetDevice"/> on a sink link that keeps what it was sent (the
/// frames to compare with what QEMU put on its UDP socket; the fuzz target uses a source link instead) behind the
/// shared <see cref="ModelVirtioRig"/> (modern transport, ioeventfd off).
/// </summary>
internal sealed class ModelNetRig : ModelVirtioRig
{
    /// <summary>PCI class of QEMU's virtio-net-pci: network controller, Ethernet
    /// (PCI_CLASS_NETWORK_ETHERNET).</summary>
    public const uint ClassNetworkEthernet = 0x020000;

    /// <param name="simulation">The simulation the rig's machine and device run in.</param>
    /// <param name="context">When given, a recorded finding trace shows the driver's register accesses as
    /// exits.</param>
    /// <param name="mode">Sink for the probe; Source for the fuzz target (a frame waits for every receive
    /// chain, as in the model targets).</param>
    public ModelNetRig(
        Simulation simulation,
        Targets.FuzzContext? context = null,
        NetBackendMode mode = NetBackendMode.Sink
    )
        : base(simulation, new VirtioNetDevice(Link(mode), Flavour.Robust), ClassNetworkEthernet, context)
    {
        Device = (VirtioNetDevice)VirtioDevice;
    }

    public VirtioNetDevice Device { get; }

    private static NetBackend Link(NetBackendMode mode) => new(mode) { KeepTransmitted = true };
}
