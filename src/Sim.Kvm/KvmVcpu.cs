using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Sim.Engine;
using Sim.Kvm.Native;

namespace Sim.Kvm;

/// <summary>One vCPU and its mmap'ed kvm_run page. <see cref="Run"/> blocks in KVM_RUN until the next exit to
/// userspace; the exit's fields are read from, and read results written to, the kvm_run page. Used from one
/// thread (the vCPU thread).</summary>
public sealed unsafe class KvmVcpu : IDisposable
{
    private readonly SafeFd _fd;
    private readonly byte* _run;
    private readonly int _runSize;
    private bool _disposed;

    internal KvmVcpu(SafeFd fd, int runSize)
    {
        _fd = fd;
        _runSize = runSize;
        nint p = LibC.Mmap(
            nint.Zero,
            unchecked((nuint)runSize),
            LibC.PROT_READ | LibC.PROT_WRITE,
            LibC.MAP_SHARED,
            fd.Fd,
            0
        );
        if (p == new nint(-1))
            throw new KvmException("mmap kvm_run", Marshal.GetLastPInvokeError());
        _run = (byte*)p;
    }

    private void Check(int result, string what)
    {
        if (result < 0)
            throw new KvmException(what, Marshal.GetLastPInvokeError());
    }

    /// <summary>Puts the vCPU in 32-bit protected mode as docs/recording.md §2 says: paging off, CR0 = PE|ET,
    /// flat 4 GiB segments (CS 0x08 code, data 0x10), EIP = ESP = <paramref name="entry"/>, EFLAGS = 0x2.</summary>
    public void SetProtectedMode32(uint entry)
    {
        KvmSregs sregs;
        Check(LibC.Ioctl(_fd.Fd, KvmIoctl.GetSregs, (nint)(&sregs)), "KVM_GET_SREGS");
        KvmSegment code = Flat(0x08, type: 0xB); // execute/read, accessed
        KvmSegment data = Flat(0x10, type: 0x3); // read/write, accessed
        sregs.Cs = code;
        sregs.Ds = data;
        sregs.Es = data;
        sregs.Fs = data;
        sregs.Gs = data;
        sregs.Ss = data;
        sregs.Cr0 = 0x11; // PE | ET
        sregs.Cr4 = 0;
        sregs.Efer = 0;
        Check(LibC.Ioctl(_fd.Fd, KvmIoctl.SetSregs, (nint)(&sregs)), "KVM_SET_SREGS");
        var regs = new KvmRegs
        {
            Rip = entry,
            Rsp = entry,
            Rflags = 0x2,
        };
        Check(LibC.Ioctl(_fd.Fd, KvmIoctl.SetRegs, (nint)(&regs)), "KVM_SET_REGS");
    }

    /// <summary>Puts the vCPU in 64-bit long mode with paging: CR0 = PE|ET|PG, CR4 = PAE, EFER = LME|LMA, CR3 =
    /// <paramref name="cr3"/> (the caller's identity-mapping PML4), a 64-bit code segment (L=1) and flat data,
    /// RIP = RSP = <paramref name="entry"/>. For measuring: the PVM flavour of KVM runs long-mode paged guests
    /// natively, where it emulates a guest without paging instruction by instruction.</summary>
    public void SetLongMode64(ulong entry, ulong cr3)
    {
        KvmSregs sregs;
        Check(LibC.Ioctl(_fd.Fd, KvmIoctl.GetSregs, (nint)(&sregs)), "KVM_GET_SREGS");
        KvmSegment code = Flat(0x08, type: 0xB);
        code.L = 1;
        code.Db = 0;
        KvmSegment data = Flat(0x10, type: 0x3);
        sregs.Cs = code;
        sregs.Ds = data;
        sregs.Es = data;
        sregs.Fs = data;
        sregs.Gs = data;
        sregs.Ss = data;
        sregs.Cr0 = 0x8000_0011; // PG | ET | PE
        sregs.Cr3 = cr3;
        sregs.Cr4 = 0x20; // PAE
        sregs.Efer = 0x500; // LME | LMA
        Check(LibC.Ioctl(_fd.Fd, KvmIoctl.SetSregs, (nint)(&sregs)), "KVM_SET_SREGS");
        var regs = new KvmRegs
        {
            Rip = entry,
            Rsp = entry,
            Rflags = 0x2,
        };
        Check(LibC.Ioctl(_fd.Fd, KvmIoctl.SetRegs, (nint)(&regs)), "KVM_SET_REGS");
    }

    private static KvmSegment Flat(ushort selector, byte type) =>
        new()
        {
            Base = 0,
            Limit = 0xFFFF_FFFF,
            Selector = selector,
            Type = type,
            Present = 1,
            Dpl = 0,
            Db = 1,
            S = 1,
            L = 0,
            G = 1,
        };

    /// <summary>KVM_GET_REGS: the instruction pointer (for error messages).</summary>
    public ulong InstructionPointer()
    {
        KvmRegs regs;
        Check(LibC.Ioctl(_fd.Fd, KvmIoctl.GetRegs, (nint)(&regs)), "KVM_GET_REGS");
        return regs.Rip;
    }

    /// <summary>KVM_RUN until the next exit to userspace; returns the exit reason (EINTR reads as
    /// <see cref="KvmIoctl.ExitIntr"/>).</summary>
    public uint Run()
    {
        if (LibC.Ioctl(_fd.Fd, KvmIoctl.Run, 0) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is LibC.EINTR or LibC.EAGAIN)
                return KvmIoctl.ExitIntr;
            throw new KvmException("KVM_RUN", errno);
        }
        return *(uint*)(_run + KvmRunLayout.ExitReason);
    }

    /// <summary>KVM_EXIT_IO: direction (true: OUT), access size, port, repeat count.</summary>
    public (bool Out, int Size, ushort Port, uint Count) IoExit =>
        (
            _run[KvmRunLayout.IoDirection] == KvmIoctl.ExitIoOut,
            _run[KvmRunLayout.IoSize],
            *(ushort*)(_run + KvmRunLayout.IoPort),
            *(uint*)(_run + KvmRunLayout.IoCount)
        );

    /// <summary>The data of element <paramref name="index"/> of a KVM_EXIT_IO (bounds-checked against the kvm_run
    /// mapping).</summary>
    public Span<byte> IoData(int size, uint index)
    {
        ulong offset = *(ulong*)(_run + KvmRunLayout.IoDataOffset);
        ulong at = checked(offset + (index * Narrow.AsUInt64Bits(size)));
        if (
            size is < 1 or > 8
            || at > Narrow.AsUInt64Bits(_runSize)
            || Narrow.AsUInt64Bits(size) > Narrow.AsUInt64Bits(_runSize) - at
        )
            throw new KvmException($"KVM_EXIT_IO data outside kvm_run (offset {offset})");
        return new Span<byte>(_run + at, size);
    }

    /// <summary>KVM_EXIT_MMIO: address, length (1..8), direction.</summary>
    public (ulong Address, int Length, bool IsWrite) MmioExit =>
        (
            *(ulong*)(_run + KvmRunLayout.MmioPhysAddr),
            Narrow.AsInt32Bits(Math.Min(8u, *(uint*)(_run + KvmRunLayout.MmioLen))),
            _run[KvmRunLayout.MmioIsWrite] != 0
        );

    /// <summary>The 8-byte data of a KVM_EXIT_MMIO (written by the guest, or to be filled for a read).</summary>
    public Span<byte> MmioData => new(_run + KvmRunLayout.MmioData, 8);

    /// <summary>Reason detail of a failed entry or internal error.</summary>
    public ulong ExitDetail => *(ulong*)(_run + KvmRunLayout.FailEntryReason);

    /// <summary>Sets kvm_run.immediate_exit: the next KVM_RUN returns at once (EINTR).</summary>
    public void RequestImmediateExit() => _run[KvmRunLayout.ImmediateExit] = 1;

    /// <summary>Little-endian value of <paramref name="data"/> (1..8 bytes).</summary>
    public static ulong ValueOf(ReadOnlySpan<byte> data)
    {
        Span<byte> wide = stackalloc byte[8];
        wide.Clear();
        data[..Math.Min(8, data.Length)].CopyTo(wide);
        return BinaryPrimitives.ReadUInt64LittleEndian(wide);
    }

    /// <summary>Closes the vCPU and unmaps its kvm_run area.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        LibC.Munmap((nint)_run, unchecked((nuint)_runSize));
        _fd.Dispose();
    }
}
