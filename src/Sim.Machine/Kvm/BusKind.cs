namespace Sim.Machine.Kvm;

/// <summary>The two x86 address spaces a vCPU exit can target.</summary>
public enum BusKind : byte
{
    /// <summary>Memory-mapped I/O (KVM_EXIT_MMIO).</summary>
    Mmio = 0,

    /// <summary>Port I/O, 16-bit port numbers (KVM_EXIT_IO).</summary>
    Pio = 1,
}
