using System.Diagnostics.CodeAnalysis;
using Sim.Engine;

namespace Sim.Machine.Kvm;

/// <summary>
/// The MMIO or PIO address space as the vCPU's userspace exits see it: non-overlapping device ranges
/// in an array sorted by base address, found by binary search (no hashing, so lookup order never
/// depends on the process). An access must lie inside one range (as a KVM io-bus device is matched
/// on the whole access); anything else is unmapped: reads return all-ones and writes are dropped,
/// which is what an x86 guest sees on an unclaimed bus address.
/// </summary>
public sealed class IoBus
{
    /// <summary>Most ranges one bus holds (KVM's io bus allows 1000 in-kernel devices; userspace
    /// device models here are far fewer).</summary>
    public const int RangesMax = 256;

    /// <summary>Port-I/O space is 16 bits wide (x86 IN/OUT).</summary>
    public const ulong PioSpaceSize = 0x1_0000;

    private IoBusRange[] _ranges = new IoBusRange[8];
    private int _count;

    /// <summary>An empty bus of <paramref name="kind"/>.</summary>
    public IoBus(BusKind kind) => Kind = kind;

    /// <summary>Whether this is the MMIO or the PIO bus.</summary>
    public BusKind Kind { get; }

    /// <summary>Registered ranges in ascending base order.</summary>
    public ReadOnlySpan<IoBusRange> Ranges => _ranges.AsSpan(0, _count);

    /// <summary>How many ranges are registered.</summary>
    public int Count => _count;

    /// <summary>Claims [<paramref name="baseAddress"/>, +<paramref name="size"/>) for
    /// <paramref name="device"/>. False on zero size, overflow past 2^64 (or past 0xFFFF on the PIO
    /// bus), overlap with a registered range, or when <see cref="RangesMax"/> are registered.</summary>
    public bool TryRegister(ulong baseAddress, ulong size, IBusDevice device, string name)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(name);
        if (size == 0)
            return false;
        if (baseAddress > ulong.MaxValue - (size - 1))
            return false;
        if (Kind == BusKind.Pio && (size > PioSpaceSize || baseAddress > PioSpaceSize - size))
            return false;
        if (_count == RangesMax)
            return false;
        ulong last = baseAddress + (size - 1);
        int index = LowerBound(baseAddress);
        // The range before must end below base; the range at index must start after last.
        if (index > 0)
        {
            IoBusRange before = _ranges[index - 1];
            if (before.Base + (before.Size - 1) >= baseAddress)
                return false;
        }
        if (index < _count && _ranges[index].Base <= last)
            return false;
        if (_count == _ranges.Length)
            Array.Resize(ref _ranges, Math.Min(_ranges.Length * 2, RangesMax));
        Array.Copy(_ranges, index, _ranges, index + 1, _count - index);
        _ranges[index] = new IoBusRange(baseAddress, size, device, name);
        _count++;
        return true;
    }

    /// <summary>Removes the range that starts at <paramref name="baseAddress"/>. False if none does.</summary>
    public bool Unregister(ulong baseAddress)
    {
        int index = LowerBound(baseAddress);
        if (index == _count || _ranges[index].Base != baseAddress)
            return false;
        Array.Copy(_ranges, index + 1, _ranges, index, _count - index - 1);
        _count--;
        _ranges[_count] = default;
        return true;
    }

    /// <summary>Finds the device whose range holds all of [address, address + length).</summary>
    public bool TryFind(ulong address, int length, [NotNullWhen(true)] out IBusDevice? device, out ulong offset)
    {
        // Index of the last range with Base <= address.
        int index = LowerBound(address);
        if (index == _count || _ranges[index].Base != address)
            index--;
        if (index >= 0 && length > 0)
        {
            IoBusRange r = _ranges[index];
            if (r.Contains(address, Narrow.AsUInt64Bits(length)))
            {
                device = r.Device;
                offset = address - r.Base;
                return true;
            }
        }
        device = null;
        offset = 0;
        return false;
    }

    /// <summary>Reads <paramref name="data"/>.Length bytes at <paramref name="address"/>. An unmapped
    /// access reads all-ones. Returns whether a device claimed the access.</summary>
    public bool Read(ulong address, Span<byte> data)
    {
        if (TryFind(address, data.Length, out IBusDevice? device, out ulong offset))
        {
            device.Read(Kind, offset, data);
            return true;
        }
        data.Fill(0xFF);
        return false;
    }

    /// <summary>Writes <paramref name="data"/> at <paramref name="address"/>. An unmapped write is
    /// dropped. Returns whether a device claimed the access.</summary>
    public bool Write(ulong address, ReadOnlySpan<byte> data)
    {
        if (!TryFind(address, data.Length, out IBusDevice? device, out ulong offset))
            return false;
        device.Write(Kind, offset, data);
        return true;
    }

    /// <summary>First index whose Base is &gt;= <paramref name="address"/>.</summary>
    private int LowerBound(ulong address)
    {
        int lo = 0,
            hi = _count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_ranges[mid].Base < address)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }
}
