using Sim.Engine;
using Sim.Kvm.Native;

namespace Sim.Kvm;

/// <summary>One entry of KVM's GSI routing table (KVM_SET_GSI_ROUTING): a GSI routed to a pin of the in-kernel
/// 8259s or IOAPIC, or to an MSI message.</summary>
public readonly record struct GsiRoute
{
    private GsiRoute(uint gsi, uint type, uint u0, uint u1, uint u2)
    {
        Gsi = gsi;
        Type = type;
        U0 = u0;
        U1 = u1;
        U2 = u2;
    }

    /// <summary>The GSI the route serves.</summary>
    public uint Gsi { get; }

    private uint Type { get; }

    private uint U0 { get; }

    private uint U1 { get; }

    private uint U2 { get; }

    /// <summary>Whether the route is an MSI (else an irqchip pin).</summary>
    public bool IsMsi => Type == KvmIoctl.IrqRoutingMsi;

    /// <summary>The MSI route's data (x86: the vector in bits 0-7).</summary>
    public uint MsiData => IsMsi ? U2 : 0;

    /// <summary>GSIs the in-kernel irqchip routes by default: 24 IOAPIC pins, the first 16 also on the 8259s.</summary>
    public const uint DefaultPinGsis = 24;

    /// <summary>An MSI route of <paramref name="gsi"/> to <paramref name="address"/> with
    /// <paramref name="data"/>.</summary>
    public static GsiRoute Msi(uint gsi, ulong address, uint data) =>
        new(gsi, KvmIoctl.IrqRoutingMsi, Narrow.LowUInt32(address), Narrow.LowUInt32(address >> 32), data);

    private static GsiRoute Pin(uint gsi, uint chip, uint pin) => new(gsi, KvmIoctl.IrqRoutingIrqchip, chip, pin, 0);

    /// <summary>The table KVM_CREATE_IRQCHIP installs on x86 (Linux kvm_setup_default_irq_routing,
    /// arch/x86/kvm/irq_comm.c): GSI 0-15 on IOAPIC pin n and on the master (0-7) or slave (8-15) 8259 pin n mod 8,
    /// GSI 16-23 on IOAPIC pin n. KVM_SET_GSI_ROUTING replaces the whole table, so MSI routes go after these.</summary>
    public static List<GsiRoute> DefaultPins()
    {
        var routes = new List<GsiRoute>();
        for (uint gsi = 0; gsi < DefaultPinGsis; gsi++)
        {
            routes.Add(Pin(gsi, KvmIoctl.IrqchipIoapic, gsi));
            if (gsi < 16)
                routes.Add(Pin(gsi, gsi < 8 ? KvmIoctl.IrqchipPicMaster : KvmIoctl.IrqchipPicSlave, gsi % 8));
        }
        return routes;
    }

    internal KvmIrqRoutingEntry ToEntry() =>
        new()
        {
            Gsi = Gsi,
            Type = Type,
            U0 = U0,
            U1 = U1,
            U2 = U2,
        };
}
