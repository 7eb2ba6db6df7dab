namespace Sim.Machine.Kvm;

/// <summary>Why a KVM ioctl-style registration failed (the errno KVM would return).</summary>
public enum KvmError : byte
{
    /// <summary>No error.</summary>
    None = 0,

    /// <summary>EINVAL: a bad length, an address range that overflows, a GSI out of range, or
    /// DATAMATCH with length 0.</summary>
    InvalidArgument,

    /// <summary>EEXIST: an ioeventfd that collides with one already registered (same bus, address,
    /// length and datamatch, or either side any-length / wildcard).</summary>
    AlreadyExists,

    /// <summary>EBUSY: the eventfd is already bound to an irqfd.</summary>
    Busy,

    /// <summary>ENOENT: nothing matching to unregister.</summary>
    NotFound,

    /// <summary>ENOSPC: the registration table is full.</summary>
    NoSpace,
}
