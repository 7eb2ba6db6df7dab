using Sim.Devices.Pci;
using Sim.Machine.Simulation;

namespace Sim.Scenarios;

/// <summary>
/// The host side of a scenario with PCI devices (what QEMU's pc machine wires up): a
/// <see cref="Simulation"/>, the mechanism #1 host bridge on ports 0xCF8-0xCFF, the BAR host
/// mapping BARs onto the KVM buses, and the PIIX INTx router. Scenarios attach devices, start a
/// guest program, and hand <see cref="IntxGsi"/> to the guest's enumeration (the firmware's
/// PIRQ routing table).
/// </summary>
public sealed class PciMachine
{
    /// <summary>A machine with <paramref name="options"/>, its host bridge on the configuration ports and no
    /// device yet.</summary>
    public PciMachine(SimulationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Simulation = new Simulation(options);
        BarHost = new KvmBarHost(Simulation.Kvm);
        Intx = new PciIntxRouter(Simulation.Kvm.Irqchip);
        Bridge = new PciHostBridge(BarHost, Intx);
        if (
            !Simulation.Kvm.Pio.TryRegister(
                PciHostBridge.ConfigAddressPort,
                PciHostBridge.PortCount,
                Bridge,
                "pci-host"
            )
        )
        {
            throw new InvalidOperationException("PCI host bridge ports overlap");
        }
    }

    /// <summary>The simulation the machine runs in.</summary>
    public Simulation Simulation { get; }

    /// <summary>Maps BARs as the guest programs them (KVM memory slots and io ranges).</summary>
    public KvmBarHost BarHost { get; }

    /// <summary>Routes INTx# pins to the irqchip's GSIs.</summary>
    public PciIntxRouter Intx { get; }

    /// <summary>The bus-0 host bridge (configuration mechanism #1).</summary>
    public PciHostBridge Bridge { get; }

    /// <summary>Plugs <paramref name="device"/> into bus 0 <paramref name="slot"/>.</summary>
    public void Attach(int slot, PciDevice device) => Bridge.Attach(slot, device);

    /// <summary>The GSI INTx <paramref name="pin"/> of <paramref name="slot"/> reaches (pass as the
    /// enumerator's intxGsi callback).</summary>
    public uint IntxGsi(int slot, int pin) => Intx.GsiFor(slot, pin);
}
