using Sim.Devices.Vhost;
using Sim.Engine.Memory;

namespace Virtsim.Fuzz.Targets;

/// <summary>The fds a vhost-core input wires to a vring (the target's kick, call and error eventfds, or
/// none).</summary>
public enum VhostMirrorFd
{
    /// <summary>No fd: the ioctl's <c>fd = -1</c>, which unbinds the vring's eventfd (drivers/vhost/vhost.c
    /// <c>vhost_vring_ioctl</c>).</summary>
    None,

    /// <summary>The target's kick eventfd (the guest-to-device notification).</summary>
    Kick,

    /// <summary>The target's call eventfd (the device-to-guest interrupt).</summary>
    Call,

    /// <summary>The target's error eventfd (signalled on a vring access fault, <c>vq_err</c>).</summary>
    Err,
}

/// <summary>Which SET_VRING_* fd ioctl.</summary>
public enum VhostFdIoctl
{
    /// <summary>VHOST_SET_VRING_KICK.</summary>
    Kick,

    /// <summary>VHOST_SET_VRING_CALL.</summary>
    Call,

    /// <summary>VHOST_SET_VRING_ERR.</summary>
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

    /// <summary>VHOST_SET_OWNER: binds the device to the calling process (<c>vhost_dev_set_owner</c>; EBUSY when it has
    /// an owner).</summary>
    VhostResult SetOwner();

    /// <summary>VHOST_RESET_OWNER: drops the owner, leaves an empty memory table and resets every vring
    /// (<c>vhost_dev_reset_owner</c>; EPERM without an owner).</summary>
    VhostResult ResetOwner();

    /// <summary>VHOST_GET_FEATURES: the feature bits the device offers.</summary>
    VhostResult GetFeatures(out ulong features);

    /// <summary>VHOST_SET_FEATURES: acks <paramref name="features"/> (EOPNOTSUPP for a bit the device does not
    /// offer).</summary>
    VhostResult SetFeatures(ulong features);

    /// <summary>VHOST_SET_MEM_TABLE with <c>struct vhost_memory { nregions, padding, regions[] }</c>
    /// (<c>vhost_set_memory</c>: EOPNOTSUPP for nonzero <paramref name="padding"/>, E2BIG past
    /// max_mem_regions).</summary>
    VhostResult SetMemTable(ReadOnlySpan<VhostMemoryRegion> regions, uint padding);

    /// <summary>VHOST_SET_VRING_NUM: the size of vring <paramref name="index"/> (<c>vhost_vring_set_num</c>).</summary>
    VhostResult SetVringNum(uint index, uint num);

    /// <summary>VHOST_SET_VRING_ADDR: the userspace addresses of vring <paramref name="index"/>'s descriptor table,
    /// avail and used rings (<c>vhost_vring_set_addr</c>).</summary>
    VhostResult SetVringAddr(uint index, in VhostVringAddr addr);

    /// <summary>VHOST_SET_VRING_BASE: the next avail index vring <paramref name="index"/> starts from.</summary>
    VhostResult SetVringBase(uint index, uint num);

    /// <summary>VHOST_GET_VRING_BASE: the vring's last avail index, in <paramref name="num"/>.</summary>
    VhostResult GetVringBase(uint index, out uint num);

    /// <summary>VHOST_SET_VRING_KICK / CALL / ERR (<paramref name="ioctl"/>) on vring <paramref name="index"/>, with
    /// the mirror's own eventfd of the kind <paramref name="fd"/> names.</summary>
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
