using Sim.Devices.Vhost;
using Sim.Devices.Virtio;
using Sim.Engine;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// An independent model of Linux vhost's control plane (drivers/vhost/vhost.c vhost_dev_ioctl / vhost_vring_ioctl /
/// vhost_set_memory, vhost-net's SET_FEATURES / RESET_OWNER / SET_BACKEND), kept outside the device (STYLE item 12):
/// from the ioctls that succeeded it predicts the errno of the next one — EPERM without an owner (checked before
/// anything else but SET_OWNER and the feature ioctls), ENOBUFS for a vring index beyond the device, EBUSY to resize
/// or rebase a running vring or to own twice, EINVAL for bad sizes and alignments, EOPNOTSUPP for unknown flags, bits
/// or non-zero padding, E2BIG for too many regions, EFAULT for a region that wraps or is empty (except the whole space
/// from 0) or whose userspace range fails access_ok while a vring runs, and for a backend start on rings or a table
/// that are not accessible — and the values GET_FEATURES / GET_VRING_BASE return. It also knows, for
/// <see cref="VhostAccessChecker"/>, which userspace ranges the device may legitimately touch. Oracle <c>errno</c>.
/// </summary>
internal sealed class VhostIoctlModel
{
    /// <summary>Oracle name.</summary>
    public const string Oracle = "errno";

    private readonly VmmAddressSpace _vmm;
    private readonly VhostMemoryRegion[] _table;
    private readonly Vring[] _vrings;

    public VhostIoctlModel(VmmAddressSpace vmm, int vqCount, ulong offeredFeatures, int memRegionsMax)
    {
        ArgumentNullException.ThrowIfNull(vmm);
        ArgumentOutOfRangeException.ThrowIfLessThan(vqCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(memRegionsMax, 1);
        _vmm = vmm;
        OfferedFeatures = offeredFeatures;
        MemRegionsMax = memRegionsMax;
        _table = new VhostMemoryRegion[memRegionsMax];
        _vrings = new Vring[vqCount];
        for (int i = 0; i < vqCount; i++)
            _vrings[i] = new Vring();
    }

    /// <summary>Where findings go.</summary>
    public FuzzContext? Context { get; set; }

    /// <summary>Told every judgement, agreeing or not (the KVM lab tallies the real kernel's agreement).</summary>
    public Action<VhostModelVerdict>? Verdict { get; set; }

    public ulong OfferedFeatures { get; }

    public int MemRegionsMax { get; }

    public bool HasOwner { get; private set; }

    /// <summary>dev-&gt;umem != NULL: a table was set (RESET_OWNER leaves an empty one).</summary>
    public bool HasTable { get; private set; }

    public int TableCount { get; private set; }

    public ReadOnlySpan<VhostMemoryRegion> Table => _table.AsSpan(0, TableCount);

    public int VringCount => _vrings.Length;

    public bool Running(int index) => _vrings[index].Running;

    /// <summary>The vring whose backend attach is in progress (vhost_vq_init_access touches its used ring before the
    /// attach returns), or -1.</summary>
    public int Starting { get; set; } = -1;

    /// <summary>Forgets the vring bases once the worker may have run (last_avail_idx moves with the data
    /// path).</summary>
    public void WorkerMayHaveRun()
    {
        foreach (Vring v in _vrings)
            v.BaseKnown = false;
    }

    // ---------------------------------------------------------------- ioctls: expected result, then the update

    public void SetOwner(VhostResult actual)
    {
        VhostResult expect = HasOwner ? VhostResult.Busy : VhostResult.Ok;
        if (!Judge("SET_OWNER", expect, actual))
            return;
        if (expect == VhostResult.Ok)
            HasOwner = true;
    }

    public void ResetOwner(VhostResult actual)
    {
        VhostResult expect = HasOwner ? VhostResult.Ok : VhostResult.NotPermitted;
        if (!Judge("RESET_OWNER", expect, actual) || expect != VhostResult.Ok)
            return;
        HasOwner = false;
        HasTable = true; // vhost_dev_reset_owner: an empty umem
        TableCount = 0;
        foreach (Vring v in _vrings)
            v.Reset();
    }

    public void GetFeatures(VhostResult actual, ulong features)
    {
        if (!Judge("GET_FEATURES", VhostResult.Ok, actual))
            return;
        Verdict?.Invoke(
            new VhostModelVerdict(
                "GET_FEATURES(value)",
                $"0x{OfferedFeatures:x}",
                $"0x{features:x}",
                features == OfferedFeatures
            )
        );
        Check(
            features == OfferedFeatures,
            "errno/get-features-value",
            $"VHOST_GET_FEATURES returned 0x{features:x16}, the device offers 0x{OfferedFeatures:x16}"
        );
    }

    public void SetFeatures(ulong features, VhostResult actual)
    {
        VhostResult expect = (features & ~OfferedFeatures) != 0 ? VhostResult.NotSupported : VhostResult.Ok;
        if (!Judge("SET_FEATURES", expect, actual) || expect != VhostResult.Ok)
            return;
        foreach (Vring v in _vrings)
            v.Acked = features;
    }

    public void SetMemTable(ReadOnlySpan<VhostMemoryRegion> regions, uint padding, VhostResult actual)
    {
        VhostResult expect = ExpectMemTable(regions, padding);
        if (!Judge("SET_MEM_TABLE", expect, actual) || expect != VhostResult.Ok)
            return;
        regions.CopyTo(_table);
        TableCount = regions.Length;
        HasTable = true;
    }

    private VhostResult ExpectMemTable(ReadOnlySpan<VhostMemoryRegion> regions, uint padding)
    {
        if (!HasOwner)
            return VhostResult.NotPermitted;
        if (padding != 0)
            return VhostResult.NotSupported;
        if (regions.Length > MemRegionsMax)
            return VhostResult.TooBig;
        foreach (VhostMemoryRegion r in regions)
        {
            // vhost_iotlb_add_range: last = gpa + size - 1 must not be below gpa (size 0 only from GPA 0: the whole
            // space).
            if (r.MemorySize == 0 && r.GuestPhysAddr != 0)
                return VhostResult.Fault;
            if (r.MemorySize != 0 && r.GuestPhysAddr > ulong.MaxValue - (r.MemorySize - 1))
                return VhostResult.Fault;
        }
        // memory_access_ok: only when a vring runs, every region's userspace range must be a valid user range.
        bool anyRunning = false;
        foreach (Vring v in _vrings)
            anyRunning |= v.Running;
        if (anyRunning && !UserRangesOk(regions))
            return VhostResult.Fault;
        return VhostResult.Ok;
    }

    // The ring sizes, the feature test and access_ok are written here from the spec and Linux, not called in
    // Sim.Devices (VhostRings, VhostFeatures.Has, VhostLimits.AccessOk): those are code under test, and a model that
    // asked them would agree with a broken one.

    /// <summary>VIRTIO 1.2 §2.7.6 / vhost_get_avail_size: flags, idx, ring[num], and used_event with
    /// EVENT_IDX.</summary>
    private static ulong AvailBytes(uint num, bool eventIdx) => 4 + (2UL * num) + (eventIdx ? 2UL : 0);

    /// <summary>VIRTIO 1.2 §2.7.8 / vhost_get_used_size: flags, idx, ring[num] of 8-byte elements, and avail_event
    /// with EVENT_IDX.</summary>
    private static ulong UsedBytes(uint num, bool eventIdx) => 4 + (8UL * num) + (eventIdx ? 2UL : 0);

    /// <summary>vhost_has_feature(vq, VIRTIO_RING_F_EVENT_IDX) on an acked feature word.</summary>
    private static bool EventIdxAcked(ulong acked) => ((acked >> VirtioSpec.FEventIdx) & 1) != 0;

    /// <summary>x86-64 access_ok: [address, +size) lies below the user address limit.</summary>
    private static bool AccessOk(ulong address, ulong size) =>
        size <= VhostLimits.UserAddressLimit && address <= VhostLimits.UserAddressLimit - size;

    /// <summary>vq_memory_access_ok: every region's [uaddr, uaddr + size) passes access_ok (size 0 is the whole
    /// space).</summary>
    private static bool UserRangesOk(ReadOnlySpan<VhostMemoryRegion> regions)
    {
        foreach (VhostMemoryRegion r in regions)
        {
            if (r.MemorySize == 0 || !AccessOk(r.UserspaceAddr, r.MemorySize))
                return false;
        }
        return true;
    }

    private bool TryVq(string ioctl, uint index, VhostResult actual, out Vring? vring)
    {
        vring = null;
        VhostResult expect =
            !HasOwner ? VhostResult.NotPermitted
            : index >= (uint)_vrings.Length ? VhostResult.NoBuffers
            : VhostResult.Ok;
        if (expect != VhostResult.Ok)
        {
            Judge(ioctl, expect, actual);
            return false;
        }
        vring = _vrings[index];
        return true;
    }

    public void SetVringNum(uint index, uint num, VhostResult actual)
    {
        if (!TryVq("SET_VRING_NUM", index, actual, out Vring? v))
            return;
        VhostResult expect =
            v!.Running ? VhostResult.Busy
            : num == 0 || num > 0xffff || (num & (num - 1)) != 0 ? VhostResult.Invalid
            : VhostResult.Ok;
        if (Judge("SET_VRING_NUM", expect, actual) && expect == VhostResult.Ok)
            v.Num = num;
    }

    public void SetVringAddr(uint index, in VhostVringAddr addr, VhostResult actual)
    {
        if (!TryVq("SET_VRING_ADDR", index, actual, out Vring? v))
            return;
        VhostResult expect =
            (addr.Flags & ~VhostVringAddr.FLog) != 0 ? VhostResult.NotSupported
            : (addr.AvailUserAddr & 1) != 0 || (addr.UsedUserAddr & 3) != 0 || (addr.LogGuestAddr & 3) != 0
                ? VhostResult.Invalid
            : v!.Running && !v.RingsOk(v.Num, addr.DescUserAddr, addr.AvailUserAddr, addr.UsedUserAddr)
                ? VhostResult.Invalid
            : VhostResult.Ok;
        if (!Judge("SET_VRING_ADDR", expect, actual) || expect != VhostResult.Ok)
            return;
        v!.Desc = addr.DescUserAddr;
        v.Avail = addr.AvailUserAddr;
        v.Used = addr.UsedUserAddr;
    }

    public void SetVringBase(uint index, uint num, VhostResult actual)
    {
        if (!TryVq("SET_VRING_BASE", index, actual, out Vring? v))
            return;
        VhostResult expect =
            v!.Running ? VhostResult.Busy
            : num > 0xffff ? VhostResult.Invalid
            : VhostResult.Ok;
        if (!Judge("SET_VRING_BASE", expect, actual) || expect != VhostResult.Ok)
            return;
        v.Base = (ushort)num;
        v.BaseKnown = true;
    }

    public void GetVringBase(uint index, VhostResult actual, uint num)
    {
        if (!TryVq("GET_VRING_BASE", index, actual, out Vring? v))
            return;
        if (!Judge("GET_VRING_BASE", VhostResult.Ok, actual) || !v!.BaseKnown)
            return;
        Verdict?.Invoke(
            new VhostModelVerdict(
                "GET_VRING_BASE(value)",
                v.Base.ToString(System.Globalization.CultureInfo.InvariantCulture),
                num.ToString(System.Globalization.CultureInfo.InvariantCulture),
                num == v.Base
            )
        );
        Check(
            num == v.Base,
            "errno/get-vring-base-value",
            $"VHOST_GET_VRING_BASE returned {num}, but the last SET_VRING_BASE (or reset) set {v.Base} and the worker "
                + "has not run since"
        );
    }

    /// <summary>SET_VRING_KICK / CALL / ERR: only the owner and index rules apply.</summary>
    public void SetVringFd(string ioctl, uint index, VhostResult actual)
    {
        if (TryVq(ioctl, index, actual, out _))
            Judge(ioctl, VhostResult.Ok, actual);
    }

    /// <summary>The backend attach (vhost-net SET_BACKEND, vhost-test RUN) of vring <paramref name="index"/>.</summary>
    public void Start(int index, VhostResult actual)
    {
        Vring v = _vrings[index];
        VhostResult expect;
        if (!HasOwner)
            expect = VhostResult.NotPermitted;
        else if (v.Running)
            expect = VhostResult.Ok;
        else if (!HasTable || !UserRangesOk(Table) || !v.RingsOk(v.Num, v.Desc, v.Avail, v.Used))
            expect = VhostResult.Fault; // vhost_vq_access_ok
        else if (!Mapped(v.Used, 2) || !AccessOk(v.Used + 2, 2) || !Mapped(v.Used + 2, 2))
            expect = VhostResult.Fault; // vhost_vq_init_access
        else
            expect = VhostResult.Ok;
        if (Judge("SET_BACKEND", expect, actual) && expect == VhostResult.Ok)
            v.Running = true;
    }

    /// <summary>The backend detach: vhost_net_set_backend checks vhost_vq_access_ok before it looks at the fd, so a
    /// detach faults exactly where an attach's first check would (drivers/vhost/net.c; found by the KVM lab's
    /// real-kernel oracle run).</summary>
    public void Stop(int index, VhostResult actual)
    {
        Vring v = _vrings[index];
        VhostResult expect =
            !HasOwner ? VhostResult.NotPermitted
            : !HasTable || !UserRangesOk(Table) || !v.RingsOk(v.Num, v.Desc, v.Avail, v.Used) ? VhostResult.Fault
            : VhostResult.Ok;
        if (Judge("SET_BACKEND(-1)", expect, actual) && expect == VhostResult.Ok)
            _vrings[index].Running = false;
    }

    /// <summary>True when user range [<paramref name="user"/>, +<paramref name="length"/>) is one of the byte ranges
    /// vhost may touch: a running vring's descriptor table, available or used ring (at its current size), or a
    /// memory-table region's userspace range (translate_desc maps buffers only there).</summary>
    public bool MayTouch(ulong user, ulong length)
    {
        for (int i = 0; i < _vrings.Length; i++)
        {
            Vring v = _vrings[i];
            if (!v.Running && i != Starting)
                continue;
            bool eventIdx = EventIdxAcked(v.Acked);
            if (
                Within(user, length, v.Desc, (ulong)v.Num * VirtioSpec.DescSize)
                || Within(user, length, v.Avail, AvailBytes(v.Num, eventIdx))
                || Within(user, length, v.Used, UsedBytes(v.Num, eventIdx))
            )
                return true;
        }
        foreach (VhostMemoryRegion r in Table)
        {
            if (Within(user, length, r.UserspaceAddr, r.MemorySize == 0 ? ulong.MaxValue : r.MemorySize))
                return true;
        }
        return false;
    }

    private static bool Within(ulong address, ulong length, ulong start, ulong size) =>
        address >= start && address - start <= size && length <= size - (address - start);

    private bool Mapped(ulong user, ulong length) =>
        _vmm.Resolve(user, out _, out ulong available) && available >= length;

    /// <summary>Source id of the control-plane events a finding trace records (one per ioctl: Address = the result as
    /// a negative errno or 0, Data = the ioctl's name in ASCII), so a vhost-core trace shows what the VMM
    /// asked.</summary>
    public const uint ControlPlaneSource = 0xC0;

    private bool Judge(string ioctl, VhostResult expect, VhostResult actual)
    {
        if (Context?.Trace is not null && ioctl.Length <= 64)
        {
            Span<byte> name = stackalloc byte[64];
            int n = System.Text.Encoding.ASCII.GetBytes(ioctl, name);
            Context.Emit(
                Sim.Engine.Trace.TraceEventKind.DeviceResult,
                ControlPlaneSource,
                Narrow.AsUInt64Bits(-(long)(int)actual),
                0,
                name[..n]
            );
        }
        Verdict?.Invoke(new VhostModelVerdict(ioctl, Errno(expect), Errno(actual), expect == actual));
        if (expect == actual)
            return true;
        Context?.Report(
            Oracle,
            "errno/" + ioctl.ToLowerInvariant().Replace('_', '-').Replace("(-1)", "-stop", StringComparison.Ordinal),
            $"VHOST_{ioctl} returned {Errno(actual)}, Linux returns {Errno(expect)} here"
        );
        return false;
    }

    private static string Errno(VhostResult r) => r == VhostResult.Ok ? "0" : $"-{(int)r} ({r})";

    private void Check(bool condition, string site, string message)
    {
        if (!condition)
            Context?.Report(Oracle, site, message);
    }

    private sealed class Vring
    {
        public uint Num = 1;
        public ulong Desc;
        public ulong Avail;
        public ulong Used;
        public ushort Base;
        public bool BaseKnown = true;
        public bool Running;
        public ulong Acked;

        public void Reset()
        {
            Num = 1;
            Desc = 0;
            Avail = 0;
            Used = 0;
            Base = 0;
            BaseKnown = true;
            Running = false;
            Acked = 0;
        }

        /// <summary>vq_access_ok: the three rings pass access_ok at size <paramref name="num"/>.</summary>
        public bool RingsOk(uint num, ulong desc, ulong avail, ulong used)
        {
            bool eventIdx = EventIdxAcked(Acked);
            return AccessOk(desc, (ulong)num * VirtioSpec.DescSize)
                && AccessOk(avail, AvailBytes(num, eventIdx))
                && AccessOk(used, UsedBytes(num, eventIdx));
        }
    }
}
