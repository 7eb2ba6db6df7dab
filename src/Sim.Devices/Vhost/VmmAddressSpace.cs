using System.Buffers.Binary;
using Sim.Engine;
using Sim.Engine.Memory;

namespace Sim.Devices.Vhost;

/// <summary>
/// The VMM's (QEMU's) userspace address space as vhost sees it through copy_from_user / copy_to_user: each guest
/// memory region is its own mmap at <c>HostBase + i × RegionStride</c>, so a userspace address resolves to one guest
/// region at most and the gaps between mappings fault. Vhost reaches the rings through these addresses (without an
/// IOTLB the vring addresses are HVAs) and the buffers through the memory table, which maps GPAs to these
/// addresses. A VMM that passes wrong userspace addresses gets faults, exactly as on Linux.
/// Separate mappings (rather than one contiguous block) also mean QEMU's vhost memory listener would not merge
/// adjacent regions, so a buffer that straddles two guest regions becomes two iovecs (translate_desc).
/// </summary>
public sealed class VmmAddressSpace
{
    /// <summary>Where the first guest region is mapped: a typical x86-64 mmap address.</summary>
    public const ulong HostBaseDefault = 0x7f00_0000_0000;

    /// <summary>Distance between two regions' mappings (regions are at most 1 GiB, so there is always a gap).</summary>
    public const ulong RegionStride = 1UL << 32;

    private readonly MemoryRegion[] _regions;

    /// <summary>The VMM's view of <paramref name="memory"/>, mapped at <paramref name="hostBase"/>.</summary>
    public VmmAddressSpace(GuestMemory memory, ulong hostBase = HostBaseDefault)
    {
        ArgumentNullException.ThrowIfNull(memory);
        _regions = memory.Regions.ToArray();
        if (hostBase % GuestMemory.PageSize != 0)
            throw new ArgumentException("host base must be page aligned", nameof(hostBase));
        if (!VhostLimits.AccessOk(hostBase, checked((ulong)_regions.Length * RegionStride)))
            throw new ArgumentException("mappings must lie in the user address range", nameof(hostBase));
        Memory = memory;
        HostBase = hostBase;
    }

    /// <summary>The guest memory behind the mapping.</summary>
    public GuestMemory Memory { get; }

    /// <summary>The user address of guest physical address 0.</summary>
    public ulong HostBase { get; }

    /// <summary>Userspace address of guest region <paramref name="index"/>'s first byte.</summary>
    public ulong RegionUserAddress(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _regions.Length);
        return HostBase + (Narrow.AsUInt64Bits(index) * RegionStride);
    }

    /// <summary>QEMU's host pointer for a guest-physical address (memory_region_get_ram_ptr + offset); false when
    /// the address is not guest RAM.</summary>
    public bool TryGetUserAddress(GuestAddress gpa, out ulong userAddress)
    {
        for (int i = 0; i < _regions.Length; i++)
        {
            MemoryRegion r = _regions[i];
            if (gpa.Value >= r.Base && gpa.Value - r.Base < r.Size)
            {
                userAddress = RegionUserAddress(i) + (gpa.Value - r.Base);
                return true;
            }
        }
        userAddress = 0;
        return false;
    }

    /// <summary>QEMU vhost_memory_map for a ring: the userspace address of [gpa, gpa+length) when it lies in one
    /// region (QEMU fails vhost_virtqueue_start with ENOMEM when the mapping is shorter than the ring).</summary>
    public bool TryMapRange(GuestAddress gpa, ulong length, out ulong userAddress)
    {
        if (!TryGetUserAddress(gpa, out userAddress))
            return false;
        return Resolve(userAddress, out _, out ulong available) && length <= available;
    }

    /// <summary>What QEMU's vhost memory listener passes to VHOST_SET_MEM_TABLE: one region per guest RAM
    /// region.</summary>
    public VhostMemoryRegion[] MemoryTable()
    {
        var table = new VhostMemoryRegion[_regions.Length];
        for (int i = 0; i < _regions.Length; i++)
            table[i] = new VhostMemoryRegion(_regions[i].Base, _regions[i].Size, RegionUserAddress(i));
        return table;
    }

    /// <summary>Finds the mapping holding <paramref name="userAddress"/>: the guest address it stands for and the bytes
    /// left in the mapping from there.</summary>
    public bool Resolve(ulong userAddress, out GuestAddress gpa, out ulong available)
    {
        gpa = default;
        available = 0;
        if (userAddress < HostBase)
            return false;
        ulong rel = userAddress - HostBase;
        ulong index = rel / RegionStride;
        if (index >= Narrow.AsUInt64Bits(_regions.Length))
            return false;
        ulong offset = rel % RegionStride;
        MemoryRegion r = _regions[index];
        if (offset >= r.Size)
            return false;
        gpa = new GuestAddress(r.Base + offset);
        available = r.Size - offset;
        return true;
    }

    /// <summary>copy_from_user: copies as much of [userAddress, +destination.Length) as is mapped, stopping at the
    /// first fault; returns the bytes copied.</summary>
    public int Read(ulong userAddress, Span<byte> destination)
    {
        int done = 0;
        // Bounded: each step either finishes or crosses into the next mapping, and a mapping boundary is followed
        // by a gap, so at most one step copies.
        while (done < destination.Length)
        {
            if (!Resolve(userAddress, out GuestAddress gpa, out ulong available))
                break;
            int chunk = unchecked((int)Math.Min(available, (ulong)(destination.Length - done)));
            bool ok = Memory.TryRead(gpa, destination.Slice(done, chunk));
            if (!ok)
                throw new InvalidOperationException("VmmAddressSpace: resolved range not readable");
            done += chunk;
            if (!TryAdvance(ref userAddress, chunk))
                break;
        }
        return done;
    }

    /// <summary>copy_to_user: copies as much of <paramref name="source"/> as is mapped; returns the bytes
    /// copied.</summary>
    public int Write(ulong userAddress, ReadOnlySpan<byte> source)
    {
        int done = 0;
        while (done < source.Length)
        {
            if (!Resolve(userAddress, out GuestAddress gpa, out ulong available))
                break;
            int chunk = unchecked((int)Math.Min(available, (ulong)(source.Length - done)));
            bool ok = Memory.TryWrite(gpa, source.Slice(done, chunk));
            if (!ok)
                throw new InvalidOperationException("VmmAddressSpace: resolved range not writable");
            done += chunk;
            if (!TryAdvance(ref userAddress, chunk))
                break;
        }
        return done;
    }

    /// <summary>get_user of a le16.</summary>
    public bool TryReadUInt16(ulong userAddress, out ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        bool ok = Read(userAddress, b) == 2;
        value = ok ? BinaryPrimitives.ReadUInt16LittleEndian(b) : (ushort)0;
        return ok;
    }

    /// <summary>put_user of a le16.</summary>
    public bool TryWriteUInt16(ulong userAddress, ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        // A faulting put_user may have written nothing; a straddling one cannot happen for aligned ring fields,
        // and for a misaligned VMM address the partial write is what the CPU would do too.
        return Write(userAddress, b) == 2;
    }

    private static bool TryAdvance(ref ulong userAddress, int chunk)
    {
        if (Narrow.AsUInt64Bits(chunk) > ulong.MaxValue - userAddress)
            return false;
        userAddress += Narrow.AsUInt64Bits(chunk);
        return true;
    }
}
