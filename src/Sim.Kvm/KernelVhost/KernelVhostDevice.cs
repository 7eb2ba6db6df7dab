using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Sim.Devices.Vhost;

namespace Sim.Kvm.KernelVhost;

/// <summary>
/// A real vhost character device (<c>/dev/vhost-demo</c> of lab/vhost-demo, <c>/dev/vhost-net</c>, ...) driven
/// through the vhost ioctls. Every call returns the kernel's result as a <see cref="VhostResult"/>: 0, or the errno
/// (values outside the enum's names stay their errno number), so it can be set beside the simulated
/// <see cref="VhostDevice"/>'s results.
/// </summary>
public sealed unsafe class KernelVhostDevice : IDisposable
{
    /// <summary>Most regions one SET_MEM_TABLE call carries here (the kernel's max_mem_regions is at most 65535;
    /// the callers pass a handful).</summary>
    public const int MemTableRegionsMax = 64;

    private readonly FileDescriptor _fd;

    /// <summary>Opens the vhost character device at <paramref name="path"/>.</summary>
    public KernelVhostDevice(string path)
    {
        Path = path;
        _fd = FileDescriptor.OpenReadWrite(path);
    }

    /// <summary>The device path.</summary>
    public string Path { get; }

    /// <summary>The open descriptor.</summary>
    public int Fd => _fd.Fd;

    private VhostResult Call(nuint request, void* arg)
    {
        int r = LinuxNative.Ioctl(_fd.Fd, request, arg);
        return r >= 0 ? VhostResult.Ok : (VhostResult)Marshal.GetLastPInvokeError();
    }

    /// <summary>VHOST_SET_OWNER.</summary>
    public VhostResult SetOwner() => Call(VhostIoctl.SetOwner, null);

    /// <summary>VHOST_RESET_OWNER.</summary>
    public VhostResult ResetOwner() => Call(VhostIoctl.ResetOwner, null);

    /// <summary>VHOST_GET_FEATURES.</summary>
    public VhostResult GetFeatures(out ulong features)
    {
        ulong f = 0;
        VhostResult r = Call(VhostIoctl.GetFeatures, &f);
        features = f;
        return r;
    }

    /// <summary>VHOST_SET_FEATURES.</summary>
    public VhostResult SetFeatures(ulong features) => Call(VhostIoctl.SetFeatures, &features);

    /// <summary>VHOST_SET_MEM_TABLE with the regions and the header's padding word.</summary>
    public VhostResult SetMemTable(ReadOnlySpan<VhostMemoryRegion> regions, uint padding)
    {
        if (regions.Length > MemTableRegionsMax)
            throw new ArgumentOutOfRangeException(nameof(regions), $"at most {MemTableRegionsMax} regions");
        int bytes = 8 + (regions.Length * sizeof(VhostIoctl.MemoryRegion));
        byte* buffer = stackalloc byte[8 + (MemTableRegionsMax * sizeof(VhostIoctl.MemoryRegion))];
        new Span<byte>(buffer, bytes).Clear();
        ((uint*)buffer)[0] = (uint)regions.Length;
        ((uint*)buffer)[1] = padding;
        var table = (VhostIoctl.MemoryRegion*)(buffer + 8);
        for (int i = 0; i < regions.Length; i++)
        {
            table[i].GuestPhysAddr = regions[i].GuestPhysAddr;
            table[i].MemorySize = regions[i].MemorySize;
            table[i].UserspaceAddr = regions[i].UserspaceAddr;
        }
        return Call(VhostIoctl.SetMemTable, buffer);
    }

    /// <summary>VHOST_SET_VRING_NUM.</summary>
    public VhostResult SetVringNum(uint index, uint num)
    {
        var s = new VhostIoctl.VringState { Index = index, Num = num };
        return Call(VhostIoctl.SetVringNum, &s);
    }

    /// <summary>VHOST_SET_VRING_BASE.</summary>
    public VhostResult SetVringBase(uint index, uint num)
    {
        var s = new VhostIoctl.VringState { Index = index, Num = num };
        return Call(VhostIoctl.SetVringBase, &s);
    }

    /// <summary>VHOST_GET_VRING_BASE.</summary>
    public VhostResult GetVringBase(uint index, out uint num)
    {
        var s = new VhostIoctl.VringState { Index = index };
        VhostResult r = Call(VhostIoctl.GetVringBase, &s);
        num = s.Num;
        return r;
    }

    /// <summary>VHOST_SET_VRING_ADDR.</summary>
    public VhostResult SetVringAddr(uint index, in VhostVringAddr addr)
    {
        var a = new VhostIoctl.VringAddr
        {
            Index = index,
            Flags = addr.Flags,
            DescUserAddr = addr.DescUserAddr,
            UsedUserAddr = addr.UsedUserAddr,
            AvailUserAddr = addr.AvailUserAddr,
            LogGuestAddr = addr.LogGuestAddr,
        };
        return Call(VhostIoctl.SetVringAddr, &a);
    }

    /// <summary>VHOST_SET_VRING_KICK / CALL / ERR; <paramref name="fd"/> -1 unwires it.</summary>
    public VhostResult SetVringFd(nuint request, uint index, int fd)
    {
        if (
            request != VhostIoctl.SetVringKick
            && request != VhostIoctl.SetVringCall
            && request != VhostIoctl.SetVringErr
        )
            throw new ArgumentOutOfRangeException(nameof(request), "not a SET_VRING_KICK/CALL/ERR request");
        var f = new VhostIoctl.VringFile { Index = index, Fd = fd };
        return Call(request, &f);
    }

    /// <summary>VHOST_NET_SET_BACKEND-shaped attach (<paramref name="fd"/> ≠ -1) or detach (-1) of vring
    /// <paramref name="index"/>; for lab/vhost-demo any fd other than -1 attaches.</summary>
    public VhostResult SetBackend(uint index, int fd)
    {
        var f = new VhostIoctl.VringFile { Index = index, Fd = fd };
        return Call(VhostIoctl.SetBackend, &f);
    }

    /// <summary>A barrier on the device's worker: VHOST_SET_LOG_FD(-1) goes through vhost_dev_ioctl, whose caller
    /// (vhost-net, vhost-demo) runs vhost_dev_flush after it, so every work queued before (a kick's handler) has
    /// finished when it returns. With no owner it fails with EPERM, and there is no worker to wait for.</summary>
    public void Flush()
    {
        int fd = -1;
        _ = Call(VhostIoctl.SetLogFd, &fd);
    }

    /// <summary>lab/vhost-demo's VHOST_DEMO_GET_STATS; with <paramref name="flush"/> the module first waits for its
    /// worker (vhost_dev_flush, repeated while a handler over its weight requeued itself), so no handler runs while
    /// the counters are read.</summary>
    public VhostResult GetDemoStats(bool flush, out KernelVhostStats stats)
    {
        byte* buffer = stackalloc byte[VhostIoctl.DemoStatsSize];
        var bytes = new Span<byte>(buffer, VhostIoctl.DemoStatsSize);
        bytes.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, flush ? VhostIoctl.DemoStatsFlush : 0);
        VhostResult r = Call(VhostIoctl.GetDemoStats, buffer);
        var log = new ushort[KernelVhostStats.SignalLog];
        for (int i = 0; i < log.Length; i++)
            log[i] = BinaryPrimitives.ReadUInt16LittleEndian(bytes[(32 + (2 * i))..]);
        ulong kicks = BinaryPrimitives.ReadUInt64LittleEndian(bytes[8..]);
        ulong used = BinaryPrimitives.ReadUInt64LittleEndian(bytes[16..]);
        stats = new KernelVhostStats(kicks, used, BinaryPrimitives.ReadUInt64LittleEndian(bytes[24..]), log);
        return r;
    }

    /// <summary>Closes the device (the kernel stops the worker and releases the vrings).</summary>
    public void Dispose() => _fd.Dispose();
}
