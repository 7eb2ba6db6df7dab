namespace Sim.Engine.Trace;

/// <summary>Where a trace's events came from (header key "origin").</summary>
public enum TraceOrigin : byte
{
    /// <summary>Recorded from the simulator ("simulated").</summary>
    Simulated = 0,

    /// <summary>Recorded from a real KVM guest ("kvm"); the header's host map says which kernel.</summary>
    Kvm = 1,
}
