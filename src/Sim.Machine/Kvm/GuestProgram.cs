namespace Sim.Machine.Kvm;

/// <summary>
/// The code running in the guest: a driver plus its test program, written as a C# iterator so it
/// reads sequentially. <see cref="Run"/> performs accesses through the <see cref="GuestContext"/> and
/// yields a <see cref="VcpuStep"/> whenever it would let time pass (compute, or STI;HLT to wait for an
/// interrupt). The program ends when the iterator ends.
/// </summary>
public abstract class GuestProgram
{
    /// <summary>The program body. Called once, when the vCPU starts.</summary>
    public abstract IEnumerator<VcpuStep> Run(GuestContext guest);

    /// <summary>The interrupt handler, run between steps when IF=1 and an interrupt is deliverable,
    /// with IF=0 for its duration (an interrupt gate). It may access memory and devices (read an ISR
    /// register) and must call <see cref="GuestContext.Eoi"/>, or the GSI stays in service.</summary>
    public virtual void OnInterrupt(GuestContext guest, uint gsi) { }
}
