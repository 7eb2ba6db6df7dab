namespace Sim.Devices.Vhost;

/// <summary>
/// Result of a vhost ioctl or data-path call, as the errno Linux drivers/vhost returns (the numeric values are
/// the x86-64 errno numbers, so a trace or report can print them as Linux would). Never thrown: bad values from
/// the VMM or the guest come back as one of these.
/// </summary>
public enum VhostResult
{
    /// <summary>Success (0).</summary>
    Ok = 0,

    /// <summary>EPERM: the caller is not the device's owner (vhost_dev_check_owner: no VHOST_SET_OWNER yet).</summary>
    NotPermitted = 1,

    /// <summary>E2BIG: too many memory regions (max_mem_regions) or an indirect table of more than 65536
    /// entries.</summary>
    TooBig = 7,

    /// <summary>EFAULT: an address is not mapped (memory table, VMM address space) or a range wraps.</summary>
    Fault = 14,

    /// <summary>EBUSY: already owned (SET_OWNER), or the vring has a backend (SET_VRING_NUM/BASE while
    /// running).</summary>
    Busy = 16,

    /// <summary>EINVAL: a bad value (ring size, alignment, index, a malformed descriptor chain).</summary>
    Invalid = 22,

    /// <summary>EOPNOTSUPP: an unoffered feature bit, unknown vring-address flags, non-zero memory-table
    /// padding.</summary>
    NotSupported = 95,

    /// <summary>ENOBUFS: a vring index beyond the device's queues, or a chain needing more iovecs than the array
    /// holds.</summary>
    NoBuffers = 105,
}
