namespace Sim.Devices.Vhost;

/// <summary>Fixed limits of Linux vhost that the model reproduces (STYLE item 7). Configurable ones live in
/// <see cref="VhostOptions"/>.</summary>
public static class VhostLimits
{
    /// <summary>UIO_MAXIOV: entries of <c>vq-&gt;iov</c> and <c>vq-&gt;indirect</c>; a chain needing more iovecs
    /// fails translate_desc with ENOBUFS.</summary>
    public const int IovecsMax = 1024;

    /// <summary>get_indirect: "Buffers are chained via a 16 bit next field, so we can have at most 2^16 of these"
    /// (USHRT_MAX + 1); more is E2BIG "Indirect buffer length too big".</summary>
    public const uint IndirectDescriptorsMax = 65536;

    /// <summary>vhost_vring_set_num: num must be non-zero, a power of two and at most 0xffff, so 32768 at
    /// most.</summary>
    public const uint VringNumMax = 0xffff;

    /// <summary>Default max_mem_regions module parameter (64): SET_MEM_TABLE with more regions is E2BIG.</summary>
    public const int MemRegionsMaxDefault = 64;

    /// <summary>x86-64 TASK_SIZE_MAX with 4-level paging: (1 &lt;&lt; 47) - PAGE_SIZE. access_ok() accepts a user range
    /// only below it.</summary>
    public const ulong UserAddressLimit = (1UL << 47) - 4096;

    /// <summary>Linux access_ok(addr, size) on x86-64: the range lies below <see cref="UserAddressLimit"/> (written so
    /// that it cannot overflow).</summary>
    public static bool AccessOk(ulong address, ulong size) =>
        size <= UserAddressLimit && address <= UserAddressLimit - size;
}
