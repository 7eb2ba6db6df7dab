using Sim.Engine;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;

namespace Sim.Devices.Vhost;

/// <summary>
/// struct vhost_dev and its ioctl control plane (drivers/vhost/vhost.c vhost_dev_ioctl / vhost_vring_ioctl, plus the
/// GET/SET_FEATURES and RESET_OWNER that each vhost driver implements the same way). Each ioctl is a method that
/// returns a <see cref="VhostResult"/> (the errno) and never throws on bad values. As on Linux, every ioctl except
/// SET_OWNER and GET/SET_FEATURES needs an owner first (EPERM), and a vring index beyond the device's queues is
/// ENOBUFS. Device-specific drivers (<see cref="VhostDemo"/>) attach backends with <see cref="StartVring"/> /
/// <see cref="StopVring"/> (vhost-net's SET_BACKEND, vhost-test's RUN).
/// <para>Where Linux's rules differ from what QEMU itself enforces on a virtio-pci queue (notes for readers of the
/// QEMU-side model): Linux accepts any power-of-two ring size up to 32768 regardless of the device's maximum (QEMU's
/// transport caps it at the queue's max size); checks avail/used alignment but not the descriptor table's; does not
/// check that rings lie in guest RAM when they are set, only that they are valid user addresses once a backend is
/// attached (a ring outside the VMM's mappings faults when first used); refuses to resize or rebase a vring while a
/// backend is attached (EBUSY), where QEMU lets the guest rewrite queue registers only while the queue is disabled;
/// and accepts overlapping memory regions.</para>
/// </summary>
public sealed class VhostDevice
{
    private readonly VhostVirtqueue[] _vqs;

    /// <summary>A vhost device with <paramref name="vqCount"/> vrings offering
    /// <paramref name="offeredFeatures"/>.</summary>
    public VhostDevice(
        Simulation simulation,
        VmmAddressSpace vmm,
        int vqCount,
        ulong offeredFeatures,
        VhostOptions? options = null,
        uint traceId = 0
    )
    {
        ArgumentNullException.ThrowIfNull(simulation);
        ArgumentNullException.ThrowIfNull(vmm);
        if (!ReferenceEquals(vmm.Memory, simulation.Memory))
            throw new ArgumentException("the VMM address space must map the simulation's guest memory", nameof(vmm));
        ArgumentOutOfRangeException.ThrowIfLessThan(vqCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(vqCount, VqsMax);
        options ??= VhostOptions.Default;
        options.Validate();
        Simulation = simulation;
        Vmm = vmm;
        OfferedFeatures = offeredFeatures;
        Options = options;
        TraceId = traceId;
        _vqs = new VhostVirtqueue[vqCount];
        for (int i = 0; i < vqCount; i++)
            _vqs[i] = new VhostVirtqueue(this, i);
    }

    /// <summary>Most vrings one device model holds.</summary>
    public const int VqsMax = 64;

    /// <summary>The simulation the device's worker runs in.</summary>
    public Simulation Simulation { get; }

    /// <summary>The VMM address space the rings' user addresses translate through (VHOST_SET_MEM_TABLE).</summary>
    public VmmAddressSpace Vmm { get; }

    /// <summary>Weights and limits.</summary>
    public VhostOptions Options { get; }

    /// <summary>Trace Source of this device's DeviceResult, ContextSwitch and memory events.</summary>
    public uint TraceId { get; }

    /// <summary>What VHOST_GET_FEATURES returns.</summary>
    public ulong OfferedFeatures { get; }

    /// <summary>The vrings.</summary>
    public IReadOnlyList<VhostVirtqueue> Vqs => _vqs;

    /// <summary>dev-&gt;mm != NULL: VHOST_SET_OWNER was done.</summary>
    public bool HasOwner { get; private set; }

    /// <summary>The worker created by SET_OWNER (null without an owner).</summary>
    public VhostWorker? Worker { get; private set; }

    /// <summary>dev-&gt;umem: the memory table (null until SET_MEM_TABLE; empty after RESET_OWNER).</summary>
    public VhostIotlb? Umem { get; private set; }

    /// <summary>vhost_poll_init at open time: <paramref name="handler"/> becomes vring <paramref name="index"/>'s
    /// handle_kick.</summary>
    public void SetKickHandler(int index, IVhostKickHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _vqs[index].SetHandler(handler);
    }

    // ---------------------------------------------------------------- device ioctls

    /// <summary>VHOST_SET_OWNER: the caller becomes the owner and the worker is created. EBUSY when owned.</summary>
    public VhostResult SetOwner()
    {
        if (HasOwner)
            return VhostResult.Busy;
        HasOwner = true;
        Worker = new VhostWorker(this, _vqs.Length);
        return VhostResult.Ok;
    }

    /// <summary>
    /// VHOST_RESET_OWNER (vhost_net_reset_owner): detaches every backend, stops polling, resets every vring
    /// (vhost_vq_reset: num 1, no rings, indices 0, eventfds dropped, features 0), frees the worker (pending works are
    /// dropped; Linux flushes them first, and with no backend they do nothing) and leaves an empty memory table.
    /// </summary>
    public VhostResult ResetOwner()
    {
        if (!HasOwner)
            return VhostResult.NotPermitted;
        foreach (VhostVirtqueue vq in _vqs)
        {
            vq.HasBackend = false;
            vq.Poll.Stop();
            vq.Reset();
        }
        Worker?.Stop();
        Worker = null;
        HasOwner = false;
        Umem = VhostIotlb.Empty;
        return VhostResult.Ok;
    }

    /// <summary>VHOST_GET_FEATURES (no owner needed).</summary>
    public VhostResult GetFeatures(out ulong features)
    {
        features = OfferedFeatures;
        return VhostResult.Ok;
    }

    /// <summary>VHOST_SET_FEATURES (no owner needed): EOPNOTSUPP for a bit not offered; otherwise every vring's
    /// acked features.</summary>
    public VhostResult SetFeatures(ulong features)
    {
        if ((features & ~OfferedFeatures) != 0)
            return VhostResult.NotSupported;
        foreach (VhostVirtqueue vq in _vqs)
            vq.AckedFeatures = features;
        return VhostResult.Ok;
    }

    /// <summary>
    /// VHOST_SET_MEM_TABLE (vhost_set_memory): EOPNOTSUPP for non-zero <paramref name="padding"/>, E2BIG for more than
    /// <see cref="VhostOptions.MemRegionsMax"/> regions, EFAULT for a zero-sized or wrapping region
    /// (<see cref="VhostIotlb.TryBuild"/>) and, when a vring is running, for a region whose userspace range fails
    /// access_ok. The table replaces the old one only on success.
    /// </summary>
    public VhostResult SetMemTable(ReadOnlySpan<VhostMemoryRegion> regions, uint padding = 0)
    {
        if (!HasOwner)
            return VhostResult.NotPermitted;
        if (padding != 0)
            return VhostResult.NotSupported;
        if (regions.Length > Options.MemRegionsMax)
            return VhostResult.TooBig;
        VhostResult r = VhostIotlb.TryBuild(regions, out VhostIotlb table);
        if (r != VhostResult.Ok)
            return r;
        // memory_access_ok: only vrings with a backend are checked ("If ring is inactive, will check when it's
        // enabled").
        foreach (VhostVirtqueue vq in _vqs)
        {
            if (vq.HasBackend && !table.UserRangesOk())
                return VhostResult.Fault;
        }
        Umem = table;
        return VhostResult.Ok;
    }

    // ---------------------------------------------------------------- vring ioctls

    /// <summary>VHOST_SET_VRING_NUM: EBUSY with a backend; EINVAL for 0, more than 0xffff or not a power of
    /// two.</summary>
    public VhostResult SetVringNum(uint index, uint num)
    {
        if (!TryVq(index, out VhostVirtqueue? vq, out VhostResult r))
            return r;
        if (vq.HasBackend)
            return VhostResult.Busy;
        if (num == 0 || num > VhostLimits.VringNumMax || (num & (num - 1)) != 0)
            return VhostResult.Invalid;
        vq.SetNum(num);
        return VhostResult.Ok;
    }

    /// <summary>
    /// VHOST_SET_VRING_ADDR: EOPNOTSUPP for flags other than VHOST_VRING_F_LOG; EINVAL when avail is not 2-aligned,
    /// used or the log address not 4-aligned (the descriptor table's 16-byte alignment is not checked), and, with a
    /// backend attached, when the rings fail vq_access_ok for the current num.
    /// </summary>
    public VhostResult SetVringAddr(uint index, in VhostVringAddr addr)
    {
        if (!TryVq(index, out VhostVirtqueue? vq, out VhostResult r))
            return r;
        if ((addr.Flags & ~VhostVringAddr.FLog) != 0)
            return VhostResult.NotSupported;
        if ((addr.AvailUserAddr & 1) != 0 || (addr.UsedUserAddr & 3) != 0 || (addr.LogGuestAddr & 3) != 0)
            return VhostResult.Invalid;
        if (vq.HasBackend && !vq.RingsAccessOk(vq.Num, addr.DescUserAddr, addr.AvailUserAddr, addr.UsedUserAddr))
            return VhostResult.Invalid;
        vq.SetAddr(addr.DescUserAddr, addr.AvailUserAddr, addr.UsedUserAddr);
        return VhostResult.Ok;
    }

    /// <summary>VHOST_SET_VRING_BASE: last_avail_idx (and the avail cache). EBUSY with a backend; EINVAL above
    /// 0xffff.</summary>
    public VhostResult SetVringBase(uint index, uint num)
    {
        if (!TryVq(index, out VhostVirtqueue? vq, out VhostResult r))
            return r;
        if (vq.HasBackend)
            return VhostResult.Busy;
        if (num > 0xffff)
            return VhostResult.Invalid;
        vq.SetBase(Narrow.LowUInt16(num));
        return VhostResult.Ok;
    }

    /// <summary>VHOST_GET_VRING_BASE: last_avail_idx.</summary>
    public VhostResult GetVringBase(uint index, out uint num)
    {
        num = 0;
        if (!TryVq(index, out VhostVirtqueue? vq, out VhostResult r))
            return r;
        num = vq.LastAvailIdx;
        return VhostResult.Ok;
    }

    /// <summary>VHOST_SET_VRING_KICK: <paramref name="fd"/> null is VHOST_FILE_UNBIND. A different eventfd stops the
    /// old poll and starts polling the new one, which queues the work at once if it is already readable.</summary>
    public VhostResult SetVringKick(uint index, EventFd? fd)
    {
        if (!TryVq(index, out VhostVirtqueue? vq, out VhostResult r))
            return r;
        if (ReferenceEquals(fd, vq.Kick))
            return VhostResult.Ok;
        bool pollStop = vq.Kick is not null;
        bool pollStart = fd is not null;
        vq.Kick = fd;
        if (pollStop && vq.Work is not null)
            vq.Poll.Stop();
        if (pollStart && vq.Work is not null)
            vq.Poll.Start(fd!);
        return VhostResult.Ok;
    }

    /// <summary>VHOST_SET_VRING_CALL: the eventfd vhost_signal writes (null = unbind).</summary>
    public VhostResult SetVringCall(uint index, EventFd? fd)
    {
        if (!TryVq(index, out VhostVirtqueue? vq, out VhostResult r))
            return r;
        vq.Call = fd;
        return VhostResult.Ok;
    }

    /// <summary>VHOST_SET_VRING_ERR: the eventfd vq_err writes (null = unbind).</summary>
    public VhostResult SetVringErr(uint index, EventFd? fd)
    {
        if (!TryVq(index, out VhostVirtqueue? vq, out VhostResult r))
            return r;
        vq.Err = fd;
        return VhostResult.Ok;
    }

    // ---------------------------------------------------------------- backend attach (device-specific ioctls)

    /// <summary>
    /// Attaches a backend to vring <paramref name="index"/> as vhost-net's SET_BACKEND / vhost-test's RUN do:
    /// EPERM without an owner, EFAULT when vhost_vq_access_ok fails (no memory table, a table whose userspace ranges
    /// fail access_ok, or rings outside the user address range), then vhost_vq_init_access (writes used-&gt;flags,
    /// reads last_used_idx; EFAULT when the used ring is not mapped), restoring the detached state on failure as
    /// vhost-net does. Attaching twice is a no-op.
    /// </summary>
    public VhostResult StartVring(int index)
    {
        if (!HasOwner)
            return VhostResult.NotPermitted;
        VhostVirtqueue vq = _vqs[index];
        if (vq.HasBackend)
            return VhostResult.Ok;
        if (!vq.AccessOk())
            return VhostResult.Fault;
        vq.HasBackend = true;
        VhostResult r = vq.InitAccess();
        if (r != VhostResult.Ok)
            vq.HasBackend = false;
        return r;
    }

    /// <summary>Detaches vring <paramref name="index"/>'s backend (private_data = NULL); a queued work then finds no
    /// backend. vhost-net's SET_BACKEND with fd -1 (drivers/vhost/net.c vhost_net_set_backend: "Verify that ring has
    /// been setup correctly") and vhost-test's RUN 0 check vhost_vq_access_ok before they look at the fd, so a detach
    /// fails with EFAULT where an attach would (no memory table, bad table ranges, rings outside the user range);
    /// the KVM lab's real-kernel oracle run found this (docs/kvm-lab.md).</summary>
    public VhostResult StopVring(int index)
    {
        if (!HasOwner)
            return VhostResult.NotPermitted;
        if (!_vqs[index].AccessOk())
            return VhostResult.Fault;
        _vqs[index].HasBackend = false;
        return VhostResult.Ok;
    }

    /// <summary>translate_desc through the memory table; no table at all faults (on Linux a NULL umem would not be
    /// reached: a vring cannot start without one).</summary>
    internal bool Translate(ulong addr, uint len, Span<UserIovec> iov, out int count, out VhostResult error) =>
        (Umem ?? VhostIotlb.Empty).TryTranslate(addr, len, iov, out count, out error);

    private bool TryVq(
        uint index,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out VhostVirtqueue? vq,
        out VhostResult result
    )
    {
        vq = null;
        if (!HasOwner)
        {
            result = VhostResult.NotPermitted;
            return false;
        }
        if (index >= Narrow.AsUInt32Bits(_vqs.Length))
        {
            result = VhostResult.NoBuffers;
            return false;
        }
        vq = _vqs[index];
        result = VhostResult.Ok;
        return true;
    }
}
