namespace Sim.Machine.Kvm;

/// <summary>Where the vCPU is in its life.</summary>
public enum VcpuState : byte
{
    /// <summary>No program started yet.</summary>
    Idle = 0,

    /// <summary>Executing guest steps.</summary>
    Running = 1,

    /// <summary>Blocked in HLT, waiting for a deliverable interrupt.</summary>
    Halted = 2,

    /// <summary>The program's iterator ended.</summary>
    Exited = 3,
}
