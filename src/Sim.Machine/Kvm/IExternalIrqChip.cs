namespace Sim.Machine.Kvm;

/// <summary>A real in-kernel irqchip the simulated one forwards to when the vCPU is external
/// (<see cref="Sim.Machine.Simulation.SimulationOptions.ExternalVcpu"/>): level changes of a pin GSI (KVM_IRQ_LINE)
/// and edges, which the machine's devices send only as MSIs (KVM_SIGNAL_MSI with data = vector), and the machine's
/// KVM_IRQFD registrations, which a real irqchip can mirror with real irqfds (then an irqfd's injection is a write
/// to the real eventfd, as Linux's vhost_signal is).</summary>
public interface IExternalIrqChip
{
    /// <summary>Pin <paramref name="gsi"/> goes high (true) or low.</summary>
    void SetLine(uint gsi, bool level);

    /// <summary>An edge on <paramref name="gsi"/>: an MSI whose vector is <paramref name="vector"/>.</summary>
    void Pulse(uint gsi, uint vector);

    /// <summary>The machine registered irqfd <paramref name="id"/> on <paramref name="gsi"/> (KVM_IRQFD assign;
    /// <paramref name="resample"/>: with a resample fd).</summary>
    void IrqFdRegistered(uint id, uint gsi, bool resample) { }

    /// <summary>The machine removed irqfd <paramref name="id"/> (KVM_IRQFD deassign).</summary>
    void IrqFdUnregistered(uint id) { }

    /// <summary>Edge irqfd <paramref name="id"/> injects <paramref name="gsi"/> (irqfd_inject). Without a real irqfd
    /// behind it, the same as <see cref="Pulse"/>.</summary>
    void IrqFdInject(uint id, uint gsi, uint vector) => Pulse(gsi, vector);
}
