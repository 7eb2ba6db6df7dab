using System.Runtime.InteropServices;
using Sim.Engine;
using Sim.Kvm.Native;

namespace Sim.Kvm;

/// <summary>Anonymous shared memory mmap'ed for a KVM memory slot: the real guest RAM. Unmapped once on
/// dispose (after the VM that uses it is gone).</summary>
public sealed unsafe class GuestRam : SafeHandle
{
    /// <summary>Maps <paramref name="size"/> bytes of shared anonymous memory (zeroed, not reserved).</summary>
    public GuestRam(ulong size)
        : base(nint.Zero, ownsHandle: true)
    {
        if (size == 0 || size % 4096 != 0 || size > (1UL << 32))
            throw new ArgumentOutOfRangeException(nameof(size), size, "a whole number of pages, at most 4 GiB");
        nint p = LibC.Mmap(
            nint.Zero,
            unchecked((nuint)size),
            LibC.PROT_READ | LibC.PROT_WRITE,
            LibC.MAP_SHARED | LibC.MAP_ANONYMOUS | LibC.MAP_NORESERVE,
            -1,
            0
        );
        if (p == new nint(-1))
            throw new KvmException("mmap guest RAM", Marshal.GetLastPInvokeError());
        SetHandle(p);
        Size = size;
    }

    /// <summary>Bytes mapped.</summary>
    public ulong Size { get; }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == nint.Zero;

    /// <summary>Host address of guest-physical 0.</summary>
    public nint Address => handle;

    /// <summary>The bytes of [offset, offset+length) (bounds-checked). The guest may change them at any time.</summary>
    public Span<byte> Slice(ulong offset, int length)
    {
        if (length < 0 || offset > Size || Narrow.AsUInt64Bits(length) > Size - offset)
            throw new ArgumentOutOfRangeException(nameof(offset));
        return new Span<byte>((byte*)handle + offset, length);
    }

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => LibC.Munmap(handle, unchecked((nuint)Size)) == 0;
}
