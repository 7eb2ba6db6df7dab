using System.Runtime.InteropServices;

namespace Sim.Kvm.Native;

// Layouts of linux/kvm.h (x86-64), blittable; sizes are checked by tests against the ioctl numbers.

/// <summary>struct kvm_userspace_memory_region (32 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmUserspaceMemoryRegion
{
    public uint Slot;
    public uint Flags;
    public ulong GuestPhysAddr;
    public ulong MemorySize;
    public ulong UserspaceAddr;
}

/// <summary>struct kvm_dirty_log (16 bytes): slot, padding, bitmap pointer.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmDirtyLog
{
    public uint Slot;
    public uint Padding;
    public ulong DirtyBitmap;
}

/// <summary>struct kvm_irq_level (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmIrqLevel
{
    public uint Irq;
    public uint Level;
}

/// <summary>struct kvm_msi (32 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Size = 32)]
internal struct KvmMsi
{
    public uint AddressLo;
    public uint AddressHi;
    public uint Data;
    public uint Flags;
    public uint DevId;
}

/// <summary>struct kvm_irqfd (32 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Size = 32)]
internal struct KvmIrqFd
{
    public uint Fd;
    public uint Gsi;
    public uint Flags;
    public uint ResampleFd;
}

/// <summary>struct kvm_irq_routing_entry (48 bytes): gsi, type, flags, pad, then a 32-byte union of which the
/// irqchip route uses (irqchip, pin) and the MSI route (address_lo, address_hi, data).</summary>
[StructLayout(LayoutKind.Sequential, Size = 48)]
internal struct KvmIrqRoutingEntry
{
    public uint Gsi;
    public uint Type;
    public uint Flags;
    public uint Pad;
    public uint U0; // irqchip.irqchip or msi.address_lo
    public uint U1; // irqchip.pin or msi.address_hi
    public uint U2; // msi.data
}

/// <summary>struct kvm_ioeventfd (64 bytes): datamatch, addr, len, fd, flags, 36 bytes of padding.</summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
internal struct KvmIoEventFd
{
    public ulong DataMatch;
    public ulong Addr;
    public uint Len;
    public int Fd;
    public uint Flags;
}

/// <summary>struct kvm_regs (144 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmRegs
{
    public ulong Rax,
        Rbx,
        Rcx,
        Rdx,
        Rsi,
        Rdi,
        Rsp,
        Rbp;
    public ulong R8,
        R9,
        R10,
        R11,
        R12,
        R13,
        R14,
        R15;
    public ulong Rip,
        Rflags;
}

/// <summary>struct kvm_segment (24 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmSegment
{
    public ulong Base;
    public uint Limit;
    public ushort Selector;
    public byte Type;
    public byte Present,
        Dpl,
        Db,
        S,
        L,
        G,
        Avl;
    public byte Unusable;
    public byte Padding;
}

/// <summary>struct kvm_dtable (16 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal struct KvmDtable
{
    public ulong Base;
    public ushort Limit;
}

/// <summary>struct kvm_sregs (312 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct KvmSregs
{
    public KvmSegment Cs,
        Ds,
        Es,
        Fs,
        Gs,
        Ss,
        Tr,
        Ldt;
    public KvmDtable Gdt,
        Idt;
    public ulong Cr0,
        Cr2,
        Cr3,
        Cr4,
        Cr8;
    public ulong Efer;
    public ulong ApicBase;
    public fixed ulong InterruptBitmap[4];
}

/// <summary>Offsets into struct kvm_run (the vCPU's mmap'ed page).</summary>
internal static class KvmRunLayout
{
    public const int ImmediateExit = 1; // __u8
    public const int ExitReason = 8; // __u32
    public const int Union = 32; // the exit union

    // union: struct { __u8 direction, size; __u16 port; __u32 count; __u64 data_offset; } io
    public const int IoDirection = Union + 0;
    public const int IoSize = Union + 1;
    public const int IoPort = Union + 2;
    public const int IoCount = Union + 4;
    public const int IoDataOffset = Union + 8;

    // union: struct { __u64 phys_addr; __u8 data[8]; __u32 len; __u8 is_write; } mmio
    public const int MmioPhysAddr = Union + 0;
    public const int MmioData = Union + 8;
    public const int MmioLen = Union + 16;
    public const int MmioIsWrite = Union + 20;

    // union: struct { __u64 hardware_entry_failure_reason; } fail_entry; struct { __u32 suberror; } internal
    public const int FailEntryReason = Union + 0;
    public const int InternalSuberror = Union + 0;
}
