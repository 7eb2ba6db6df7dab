using Sim.Engine.Kvm;

namespace Sim.Kvm;

/// <summary>The machine's irqchip in external mode, forwarded to the real one: pin GSIs (PCI INTx on the 8259)
/// with KVM_IRQ_LINE, edges (the devices' MSI-X messages) with KVM_SIGNAL_MSI to the LAPIC at 0xFEE00000 with
/// data = vector, as docs/recording.md §2 has the guest program its MSI-X table.</summary>
internal sealed class KvmIrqForwarder(KvmVm vm) : IExternalIrqChip
{
    public const ulong MsiAddress = 0xFEE0_0000;

    public long Sent { get; private set; }

    /// <summary>MSIs the guest's LAPIC did not accept (KVM_SIGNAL_MSI returned 0).</summary>
    public long MsisBlocked { get; private set; }

    public void SetLine(uint gsi, bool level)
    {
        vm.SetIrqLine(gsi, level);
        if (level) Sent++;
    }

    public void Pulse(uint gsi, uint vector)
    {
        if (vm.SignalMsi(MsiAddress, vector) == 0) MsisBlocked++;
        Sent++;
    }
}
