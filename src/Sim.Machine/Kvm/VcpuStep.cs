namespace Sim.Machine.Kvm;

/// <summary>One step of a guest program, yielded by <see cref="GuestProgram.Run"/>: everything the
/// program did since its previous yield (memory accesses, exits) is charged to the vCPU, then the
/// step decides what happens next.</summary>
public readonly struct VcpuStep
{
    private VcpuStep(VcpuStepKind kind, long nanoseconds)
    {
        Kind = kind;
        Nanoseconds = nanoseconds;
    }

    /// <summary>Compute (time passes) or halt.</summary>
    public VcpuStepKind Kind { get; }

    /// <summary>Extra guest compute time for <see cref="VcpuStepKind.Compute"/>; 0 for Halt.</summary>
    public long Nanoseconds { get; }

    /// <summary>Continue after <paramref name="nanoseconds"/> of guest computation (0: at once, after
    /// the step's own costs). Pending interrupts are taken before the next step when IF=1.</summary>
    public static VcpuStep Compute(long nanoseconds)
    {
        if (nanoseconds < 0)
            throw new ArgumentOutOfRangeException(nameof(nanoseconds), "compute time must not be negative");
        return new VcpuStep(VcpuStepKind.Compute, nanoseconds);
    }

    /// <summary>Continue at once (a yield point that lets interrupts and other actors in).</summary>
    public static VcpuStep Yield => new(VcpuStepKind.Compute, 0);

    /// <summary>STI; HLT: block until an interrupt is deliverable.</summary>
    public static VcpuStep Halt => new(VcpuStepKind.Halt, 0);

    /// <summary>For diagnostics: "halt" or "compute N ns".</summary>
    public override string ToString() => Kind == VcpuStepKind.Halt ? "halt" : $"compute {Nanoseconds} ns";
}
