using Sim.Devices.Vhost;
using Sim.Engine.Memory;

namespace Virtsim.Fuzz.Targets;

/// <summary>The fds a vhost-core input wires to a vring (the target's kick, call and error eventfds, or
/// none).</summary>
public enum VhostMirrorFd
{
    None,
    Kick,
    Call,
    Err,
}

/// <summary>Which SET_VRING_* fd ioctl.</summary>
public enum VhostFdIoctl
{
    Kick,
    Call,
    Err,
}

/// <summary>
/// A second vhost device that receives every control-plane operation of a <see cref="VhostCoreTarget"/> execution with
/// the same arguments (same userspace addresses, same memory tables), alongside the simulated one: the KVM lab puts the
/// real kernel's vhost core behind it (lab/vhost-demo through real ioctls) and judges its results with a second,
/// independent <see cref="Oracles.VhostIoctlModel"/>. Results are 0 or the errno.
/// </summary>
public interface IVhostCoreMirror
{
    /// <summary>A fresh device for one execution; <paramref name="vmm"/> is the simulated VMM's address space, whose
    /// userspace addresses the mirror must have mapped.</summary>
    void Begin(VmmAddressSpace vmm);

    /// <summary>Closes the execution's device.</summary>
    void End();

    VhostResult SetOwner();

    VhostResult ResetOwner();

    VhostResult GetFeatures(out ulong features);

    VhostResult SetFeatures(ulong features);

    VhostResult SetMemTable(ReadOnlySpan<VhostMemoryRegion> regions, uint padding);

    VhostResult SetVringNum(uint index, uint num);

    VhostResult SetVringAddr(uint index, in VhostVringAddr addr);

    VhostResult SetVringBase(uint index, uint num);

    VhostResult GetVringBase(uint index, out uint num);

    VhostResult SetVringFd(VhostFdIoctl ioctl, uint index, VhostMirrorFd fd);

    /// <summary>The backend attach (true) or detach of vring 0.</summary>
    VhostResult SetBackend(bool running);

    /// <summary>The guest's kick: first brings the mirror's memory up to the simulated guest memory
    /// <paramref name="memory"/>, then signals the kick eventfd.</summary>
    void Kick(GuestMemory memory);

    /// <summary>Waits until the device's worker has finished what was queued (the simulated target's worker
    /// run).</summary>
    void Flush();
}
