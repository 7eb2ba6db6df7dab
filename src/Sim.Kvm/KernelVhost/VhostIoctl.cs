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

    /// <summary>VHOST_GET_FEATURES.</summary>
    public static readonly nuint GetFeatures = Ioc(DirRead, 0x00, sizeof(ulong));

    /// <summary>VHOST_SET_FEATURES.</summary>
    public static readonly nuint SetFeatures = Ioc(DirWrite, 0x00, sizeof(ulong));

    /// <summary>VHOST_SET_OWNER.</summary>
    public static readonly nuint SetOwner = Ioc(DirNone, 0x01, 0);

    /// <summary>VHOST_RESET_OWNER.</summary>
    public static readonly nuint ResetOwner = Ioc(DirNone, 0x02, 0);

    /// <summary>VHOST_SET_MEM_TABLE.</summary>
    public static readonly nuint SetMemTable = Ioc(DirWrite, 0x03, 8); // struct vhost_memory header

    /// <summary>VHOST_SET_LOG_FD.</summary>
    public static readonly nuint SetLogFd = Ioc(DirWrite, 0x07, sizeof(int));

    /// <summary>VHOST_SET_VRING_NUM.</summary>
    public static readonly nuint SetVringNum = Ioc(DirWrite, 0x10, 8);

    /// <summary>VHOST_SET_VRING_ADDR.</summary>
    public static readonly nuint SetVringAddr = Ioc(DirWrite, 0x11, 40);

    /// <summary>VHOST_SET_VRING_BASE.</summary>
    public static readonly nuint SetVringBase = Ioc(DirWrite, 0x12, 8);

    /// <summary>VHOST_GET_VRING_BASE.</summary>
    public static readonly nuint GetVringBase = Ioc(DirRead | DirWrite, 0x12, 8);

    /// <summary>VHOST_SET_VRING_KICK.</summary>
    public static readonly nuint SetVringKick = Ioc(DirWrite, 0x20, 8);

    /// <summary>VHOST_SET_VRING_CALL.</summary>
    public static readonly nuint SetVringCall = Ioc(DirWrite, 0x21, 8);

    /// <summary>VHOST_SET_VRING_ERR.</summary>
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
        /// <summary><c>index</c>.</summary>
        public uint Index;

        /// <summary><c>num</c>.</summary>
        public uint Num;
    }

    /// <summary>struct vhost_vring_file.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct VringFile
    {
        /// <summary><c>index</c>.</summary>
        public uint Index;

        /// <summary><c>fd</c>.</summary>
        public int Fd;
    }

    /// <summary>struct vhost_vring_addr.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct VringAddr
    {
        /// <summary><c>index</c>.</summary>
        public uint Index;

        /// <summary><c>flags</c>.</summary>
        public uint Flags;

        /// <summary><c>desc_user_addr</c>.</summary>
        public ulong DescUserAddr;

        /// <summary><c>used_user_addr</c>.</summary>
        public ulong UsedUserAddr;

        /// <summary><c>avail_user_addr</c>.</summary>
        public ulong AvailUserAddr;

        /// <summary><c>log_guest_addr</c>.</summary>
        public ulong LogGuestAddr;
    }

    /// <summary>struct vhost_memory_region (the table's entries follow the 8-byte {nregions, padding}
    /// header).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MemoryRegion
    {
        /// <summary><c>guest_phys_addr</c>.</summary>
        public ulong GuestPhysAddr;

        /// <summary><c>memory_size</c>.</summary>
        public ulong MemorySize;

        /// <summary><c>userspace_addr</c>.</summary>
        public ulong UserspaceAddr;

        /// <summary><c>flags_padding</c>.</summary>
        public ulong FlagsPadding;
    }
}
