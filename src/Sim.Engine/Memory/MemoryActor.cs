namespace Sim.Engine.Memory;

/// <summary>Who is touching guest memory: observers and checkers tell device accesses from the
/// guest's own (fuzz oracle 3 only judges the device side).</summary>
public enum MemoryActor : byte
{
    /// <summary>The device model (QEMU-style backend, vhost worker): the side whose accesses are verified.</summary>
    Device = 0,

    /// <summary>The guest (simulated driver, or recorded guest stores replayed from a trace).</summary>
    Guest = 1,

    /// <summary>The host tooling itself (loading images, restoring snapshots): never observed.</summary>
    Host = 2,
}
