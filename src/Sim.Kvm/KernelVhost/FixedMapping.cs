using System.Runtime.InteropServices;

namespace Sim.Kvm.KernelVhost;

/// <summary>Anonymous memory mmap'ed at a chosen userspace address (MAP_FIXED_NOREPLACE): the real counterpart of
/// one <c>VmmAddressSpace</c> region, so the userspace addresses the simulated VMM hands to vhost are valid, mapped
/// addresses in this process too.</summary>
public sealed unsafe class FixedMapping : IDisposable
{
    private nint _address;

    /// <summary>Maps <paramref name="length"/> bytes at exactly <paramref name="address"/>
    /// (MAP_FIXED_NOREPLACE).</summary>
    public FixedMapping(ulong address, ulong length)
    {
        nint at = LinuxNative.Mmap(
            unchecked((nint)address),
            (nuint)length,
            LinuxNative.PROT_READ | LinuxNative.PROT_WRITE,
            LinuxNative.MAP_PRIVATE | LinuxNative.MAP_ANONYMOUS | LinuxNative.MAP_FIXED_NOREPLACE,
            -1,
            0
        );
        if (at == LinuxNative.MapFailed)
            throw new KernelVhostException($"mmap at 0x{address:x}", Marshal.GetLastPInvokeError());
        if (unchecked((ulong)at) != address)
        {
            // Kernels before 4.17 ignore MAP_FIXED_NOREPLACE and treat the address as a hint.
            LinuxNative.Munmap(at, (nuint)length);
            throw new KernelVhostException($"mmap at 0x{address:x} landed at 0x{at:x}");
        }
        _address = at;
        Address = address;
        Length = length;
    }

    /// <summary>The mapping's start.</summary>
    public ulong Address { get; }

    /// <summary>The mapping's length.</summary>
    public ulong Length { get; }

    /// <summary>The mapped bytes (empty once disposed).</summary>
    public Span<byte> Bytes => _address == 0 ? default : new Span<byte>((void*)_address, checked((int)Length));

    /// <summary>Unmaps the memory.</summary>
    public void Dispose()
    {
        if (_address == 0)
            return;
        LinuxNative.Munmap(_address, (nuint)Length);
        _address = 0;
    }
}
