using System.Runtime.InteropServices;
using Sim.Engine;
using Sim.Kvm.Native;

namespace Sim.Kvm;

/// <summary>One KVM virtual machine: memory slots, the in-kernel irqchip, ioeventfds, irqfds, interrupt
/// lines and MSIs, the dirty log and vCPU creation. VM ioctls are safe from any thread.</summary>
public sealed unsafe class KvmVm : IDisposable
{
    private readonly KvmSystem _kvm;
    private readonly SafeFd _fd;

    internal KvmVm(KvmSystem kvm, SafeFd fd)
    {
        _kvm = kvm;
        _fd = fd;
    }

    /// <summary>The /dev/kvm handle the VM was created from.</summary>
    public KvmSystem System => _kvm;

    private void Check(int result, string what)
    {
        if (result < 0)
            throw new KvmException(what, Marshal.GetLastPInvokeError());
    }

    /// <summary>KVM_SET_USER_MEMORY_REGION: maps <paramref name="ram"/> at <paramref name="guestPhys"/> in
    /// <paramref name="slot"/>, with KVM_MEM_LOG_DIRTY_PAGES when <paramref name="logDirty"/>.</summary>
    public void SetMemoryRegion(uint slot, ulong guestPhys, GuestRam ram, bool logDirty)
    {
        ArgumentNullException.ThrowIfNull(ram);
        var region = new KvmUserspaceMemoryRegion
        {
            Slot = slot,
            Flags = logDirty ? KvmIoctl.MemLogDirtyPages : 0,
            GuestPhysAddr = guestPhys,
            MemorySize = ram.Size,
            UserspaceAddr = unchecked((ulong)ram.Address),
        };
        Check(LibC.Ioctl(_fd.Fd, KvmIoctl.SetUserMemoryRegion, (nint)(&region)), "KVM_SET_USER_MEMORY_REGION");
    }

    /// <summary>KVM_SET_TSS_ADDR: three pages VMX needs below 4 GiB for real-mode emulation (other flavours ignore or
    /// refuse it; a protected-mode guest does not need it, so a refusal is returned, not thrown).</summary>
    public bool TrySetTssAddress(uint address) =>
        LibC.Ioctl(_fd.Fd, KvmIoctl.SetTssAddr, unchecked((nint)address)) == 0;

    /// <summary>KVM_CREATE_IRQCHIP: the in-kernel 8259 pair, IOAPIC and per-vCPU LAPIC.</summary>
    public void CreateIrqchip() => Check(LibC.Ioctl(_fd.Fd, KvmIoctl.CreateIrqchip, 0), "KVM_CREATE_IRQCHIP");

    /// <summary>KVM_IRQ_LINE: drives GSI <paramref name="gsi"/> to <paramref name="level"/>.</summary>
    public void SetIrqLine(uint gsi, bool level)
    {
        var line = new KvmIrqLevel { Irq = gsi, Level = level ? 1u : 0u };
        Check(LibC.Ioctl(_fd.Fd, KvmIoctl.IrqLine, (nint)(&line)), "KVM_IRQ_LINE");
    }

    /// <summary>KVM_SIGNAL_MSI: one message (x86: address 0xFEExxxxx names the LAPIC, data holds the vector).
    /// Returns KVM's result: &gt;0 delivered, 0 blocked by the guest (masked/filtered).</summary>
    public int SignalMsi(ulong address, uint data)
    {
        var msi = new KvmMsi
        {
            AddressLo = Narrow.LowUInt32(address),
            AddressHi = Narrow.LowUInt32(address >> 32),
            Data = data,
        };
        int r = LibC.Ioctl(_fd.Fd, KvmIoctl.SignalMsi, (nint)(&msi));
        Check(r, "KVM_SIGNAL_MSI");
        return r;
    }

    /// <summary>KVM_IOEVENTFD assign or deassign: a guest write of <paramref name="length"/> bytes at
    /// <paramref name="address"/> (PIO or MMIO), optionally only of value <paramref name="dataMatch"/>,
    /// signals <paramref name="fd"/> inside KVM without an exit. Returns false with errno when KVM refuses.</summary>
    public bool TryIoEventFd(
        bool pio,
        ulong address,
        int length,
        ulong? dataMatch,
        HostEventFd fd,
        bool deassign,
        out int errno
    )
    {
        ArgumentNullException.ThrowIfNull(fd);
        var req = new KvmIoEventFd
        {
            Addr = address,
            Len = Narrow.AsUInt32Bits(length),
            Fd = fd.Fd,
            DataMatch = dataMatch ?? 0,
            Flags =
                (pio ? KvmIoctl.IoEventFdFlagPio : 0)
                | (dataMatch.HasValue ? KvmIoctl.IoEventFdFlagDataMatch : 0)
                | (deassign ? KvmIoctl.IoEventFdFlagDeassign : 0),
        };
        if (LibC.Ioctl(_fd.Fd, KvmIoctl.IoEventFd, (nint)(&req)) < 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return false;
        }
        errno = 0;
        return true;
    }

    /// <summary>KVM_IRQFD assign/deassign: signalling <paramref name="fd"/> injects <paramref name="gsi"/> through its
    /// route (the irqchip's default pin routes, or what <see cref="SetGsiRouting"/> installed).</summary>
    public void IrqFd(HostEventFd fd, uint gsi, bool deassign)
    {
        ArgumentNullException.ThrowIfNull(fd);
        var req = new KvmIrqFd
        {
            Fd = Narrow.AsUInt32Bits(fd.Fd),
            Gsi = gsi,
            Flags = deassign ? KvmIoctl.IrqFdFlagDeassign : 0,
        };
        Check(LibC.Ioctl(_fd.Fd, KvmIoctl.IrqFd, (nint)(&req)), "KVM_IRQFD");
    }

    /// <summary>KVM_SET_GSI_ROUTING: replaces the whole GSI routing table with <paramref name="routes"/> (struct
    /// kvm_irq_routing: nr, flags, then the entries).</summary>
    public void SetGsiRouting(ReadOnlySpan<GsiRoute> routes)
    {
        int size = 8 + routes.Length * sizeof(KvmIrqRoutingEntry);
        byte[] storage = new byte[size];
        fixed (byte* table = storage)
        {
            *(uint*)table = Narrow.AsUInt32Bits(routes.Length);
            var entries = (KvmIrqRoutingEntry*)(table + 8);
            for (int i = 0; i < routes.Length; i++)
                entries[i] = routes[i].ToEntry();
            Check(LibC.Ioctl(_fd.Fd, KvmIoctl.SetGsiRouting, (nint)table), "KVM_SET_GSI_ROUTING");
        }
    }

    /// <summary>KVM_GET_DIRTY_LOG: fills <paramref name="bitmap"/> (one bit per page of the slot, 64-bit words)
    /// with the pages written since the last call, and clears the log.</summary>
    public void GetDirtyLog(uint slot, ulong[] bitmap)
    {
        ArgumentNullException.ThrowIfNull(bitmap);
        fixed (ulong* bits = bitmap)
        {
            var log = new KvmDirtyLog { Slot = slot, DirtyBitmap = unchecked((ulong)bits) };
            Check(LibC.Ioctl(_fd.Fd, KvmIoctl.GetDirtyLog, (nint)(&log)), "KVM_GET_DIRTY_LOG");
        }
    }

    /// <summary>KVM_CREATE_VCPU <paramref name="id"/> with its kvm_run page mapped.</summary>
    public KvmVcpu CreateVcpu(int id)
    {
        SafeFd fd = SafeFd.Check(LibC.Ioctl(_fd.Fd, KvmIoctl.CreateVcpu, id), "KVM_CREATE_VCPU");
        return new KvmVcpu(fd, _kvm.VcpuMmapSize());
    }

    /// <summary>Closes the VM.</summary>
    public void Dispose() => _fd.Dispose();
}
