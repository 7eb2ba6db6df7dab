namespace Sim.Machine.Kvm;

/// <summary>What a guest program asks the vCPU to do after a step.</summary>
public enum VcpuStepKind : byte
{
    /// <summary>Run guest instructions for <see cref="VcpuStep.Nanoseconds"/> more, then continue.</summary>
    Compute = 0,

    /// <summary>STI; HLT: enable interrupts and block (inside KVM_RUN, with the in-kernel irqchip)
    /// until an interrupt is deliverable; its handler runs, then the program continues.</summary>
    Halt = 1,
}
