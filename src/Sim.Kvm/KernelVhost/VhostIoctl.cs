using System.Runtime.InteropServices;

namespace Sim.Kvm.KernelVhost;

/// <summary>The vhost ioctl numbers (include/uapi/linux/vhost.h, VHOST_VIRTIO 0xAF) built with the asm-generic
/// _IOC encoding, and their argument structures (include/uapi/linux/vhost_types.h).</summary>
public static class VhostIoctl
{
    private const uint VhostVirtio = 0xAF;
    private const int NrShift = 0;
    private const int TypeShift = 8;
    private const int SizeShift = 16;
    private const int DirShift = 30;
    private const uint DirNone = 0;
    private const uint DirWrite = 1;
    private const uint DirRead = 2;

    private static nuint Ioc(uint dir, uint nr, int size) =>
        (dir << DirShift) | ((uint)size << SizeShift) | (VhostVirtio << TypeShift) | (nr << NrShift);

    public static readonly nuint GetFeatures = Ioc(DirRead, 0x00, sizeof(ulong));
    public static readonly nuint SetFeatures = Ioc(DirWrite, 0x00, sizeof(ulong));
    public static readonly nuint SetOwner = Ioc(DirNone, 0x01, 0);
    public static readonly nuint ResetOwner = Ioc(DirNone, 0x02, 0);
    public static readonly nuint SetMemTable = Ioc(DirWrite, 0x03, 8); // struct vhost_memory header
    public static readonly nuint SetLogFd = Ioc(DirWrite, 0x07, sizeof(int));
    public static readonly nuint SetVringNum = Ioc(DirWrite, 0x10, 8);
    public static readonly nuint SetVringAddr = Ioc(DirWrite, 0x11, 40);
    public static readonly nuint SetVringBase = Ioc(DirWrite, 0x12, 8);
    public static readonly nuint GetVringBase = Ioc(DirRead | DirWrite, 0x12, 8);
    public static readonly nuint SetVringKick = Ioc(DirWrite, 0x20, 8);
    public static readonly nuint SetVringCall = Ioc(DirWrite, 0x21, 8);
    public static readonly nuint SetVringErr = Ioc(DirWrite, 0x22, 8);

    /// <summary>VHOST_NET_SET_BACKEND's number and argument; lab/vhost-demo's VHOST_DEMO_SET_BACKEND uses the
    /// same.</summary>
    public static readonly nuint SetBackend = Ioc(DirWrite, 0x30, 8);

    /// <summary>lab/vhost-demo's VHOST_DEMO_GET_STATS = _IOWR(VHOST_VIRTIO, 0x31, struct vhost_demo_stats): the data
    /// path's counters (<see cref="KernelVhostStats"/>).</summary>
    public static readonly nuint GetDemoStats = Ioc(DirRead | DirWrite, 0x31, DemoStatsSize);

    /// <summary>sizeof(struct vhost_demo_stats): flags, log_size, kicks, used, signals, signal_used_idx[64].</summary>
    public const int DemoStatsSize = 8 + 24 + (2 * KernelVhostStats.SignalLog);

    /// <summary>VHOST_DEMO_STATS_FLUSH: the module waits for its worker (vhost_dev_flush) before reading.</summary>
    public const uint DemoStatsFlush = 1;

    /// <summary>struct vhost_vring_state.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct VringState
    {
        public uint Index;
        public uint Num;
    }

    /// <summary>struct vhost_vring_file.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct VringFile
    {
        public uint Index;
        public int Fd;
    }

    /// <summary>struct vhost_vring_addr.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct VringAddr
    {
        public uint Index;
        public uint Flags;
        public ulong DescUserAddr;
        public ulong UsedUserAddr;
        public ulong AvailUserAddr;
        public ulong LogGuestAddr;
    }

    /// <summary>struct vhost_memory_region (the table's entries follow the 8-byte {nregions, padding}
    /// header).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MemoryRegion
    {
        public ulong GuestPhysAddr;
        public ulong MemorySize;
        public ulong UserspaceAddr;
        public ulong FlagsPadding;
    }
}
