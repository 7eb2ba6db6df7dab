namespace Sim.Engine.Kvm;

/// <summary>A real in-kernel irqchip the simulated one forwards to when the vCPU is external
/// (<see cref="SimulationOptions.ExternalVcpu"/>): level changes of a pin GSI (KVM_IRQ_LINE) and edges,
/// which the machine's devices send only as MSIs (KVM_SIGNAL_MSI with data = vector).</summary>
public interface IExternalIrqChip
{
    /// <summary>Pin <paramref name="gsi"/> goes high (true) or low.</summary>
    void SetLine(uint gsi, bool level);

    /// <summary>An edge on <paramref name="gsi"/>: an MSI whose vector is <paramref name="vector"/>.</summary>
    void Pulse(uint gsi, uint vector);
}
