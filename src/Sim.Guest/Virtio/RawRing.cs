using System.Buffers.Binary;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Spec.Virtio;

namespace Sim.Guest.Virtio;

/// <summary>
/// Unchecked ring writers and readers for tests and the fuzzer: they write whatever they are given (bad indices,
/// loops, zero lengths, wild addresses) so hostile rings can be built. Each returns false only when the target bytes
/// themselves are not in guest memory. Layout per VIRTIO 1.2 §2.7.5/§2.7.6/§2.7.8.
/// </summary>
public static class RawRing
{
    /// <summary>Writes descriptor <paramref name="index"/> of the table at <paramref name="table"/> as 16 bytes:
    /// addr (le64) + len (le32) + flags (le16) + next (le16).</summary>
    public static bool WriteDescriptor(
        GuestMemory memory,
        GuestAddress table,
        int index,
        ulong addr,
        uint len,
        ushort flags,
        ushort next
    )
    {
        ArgumentNullException.ThrowIfNull(memory);
        Span<byte> raw = stackalloc byte[VirtioSpec.DescSize];
        BinaryPrimitives.WriteUInt64LittleEndian(raw[VirtioSpec.DescAddrOffset..], addr);
        BinaryPrimitives.WriteUInt32LittleEndian(raw[VirtioSpec.DescLenOffset..], len);
        BinaryPrimitives.WriteUInt16LittleEndian(raw[VirtioSpec.DescFlagsOffset..], flags);
        BinaryPrimitives.WriteUInt16LittleEndian(raw[VirtioSpec.DescNextOffset..], next);
        if (
            Narrow.AsUInt32Bits(index) > int.MaxValue / VirtioSpec.DescSize
            || !table.TryAdd(Narrow.AsUInt64Bits(index) * VirtioSpec.DescSize, out GuestAddress at)
        )
            return false;
        return memory.TryWrite(at, raw);
    }

    /// <summary>Writes descriptor <paramref name="index"/> of the ring's own table.</summary>
    public static bool WriteDescriptor(
        GuestMemory memory,
        in SplitRingLayout layout,
        int index,
        ulong addr,
        uint len,
        ushort flags,
        ushort next
    ) => WriteDescriptor(memory, layout.DescTable, index, addr, len, flags, next);

    /// <summary>Writes avail.ring[<paramref name="slot"/>] = <paramref name="head"/> (slot taken modulo the
    /// size).</summary>
    public static bool WriteAvailEntry(GuestMemory memory, in SplitRingLayout layout, int slot, ushort head)
    {
        ArgumentNullException.ThrowIfNull(memory);
        return memory.TryWriteUInt16(layout.AvailEntry(slot & (layout.Size - 1)), head);
    }

    /// <summary>Writes avail.idx.</summary>
    public static bool WriteAvailIdx(GuestMemory memory, in SplitRingLayout layout, ushort idx)
    {
        ArgumentNullException.ThrowIfNull(memory);
        return memory.TryWriteUInt16(layout.AvailIdx, idx);
    }

    /// <summary>Writes avail.flags (VIRTQ_AVAIL_F_NO_INTERRUPT = 1).</summary>
    public static bool WriteAvailFlags(GuestMemory memory, in SplitRingLayout layout, ushort flags)
    {
        ArgumentNullException.ThrowIfNull(memory);
        return memory.TryWriteUInt16(layout.AvailRing, flags);
    }

    /// <summary>Writes used_event (EVENT_IDX).</summary>
    public static bool WriteUsedEvent(GuestMemory memory, in SplitRingLayout layout, ushort value)
    {
        ArgumentNullException.ThrowIfNull(memory);
        return memory.TryWriteUInt16(layout.UsedEvent, value);
    }

    /// <summary>Reads used.idx.</summary>
    public static bool TryReadUsedIdx(GuestMemory memory, in SplitRingLayout layout, out ushort idx)
    {
        ArgumentNullException.ThrowIfNull(memory);
        return memory.TryReadUInt16(layout.UsedIdx, out idx);
    }

    /// <summary>Reads used.flags (VIRTQ_USED_F_NO_NOTIFY = 1).</summary>
    public static bool TryReadUsedFlags(GuestMemory memory, in SplitRingLayout layout, out ushort flags)
    {
        ArgumentNullException.ThrowIfNull(memory);
        return memory.TryReadUInt16(layout.UsedRing, out flags);
    }

    /// <summary>Reads avail_event (EVENT_IDX).</summary>
    public static bool TryReadAvailEvent(GuestMemory memory, in SplitRingLayout layout, out ushort value)
    {
        ArgumentNullException.ThrowIfNull(memory);
        return memory.TryReadUInt16(layout.AvailEvent, out value);
    }

    /// <summary>Reads used.ring[<paramref name="slot"/>] (slot taken modulo the size): id (le32) + len
    /// (le32).</summary>
    public static bool TryReadUsedEntry(
        GuestMemory memory,
        in SplitRingLayout layout,
        int slot,
        out uint id,
        out uint len
    )
    {
        ArgumentNullException.ThrowIfNull(memory);
        bool ok = memory.TryReadUInt64(layout.UsedEntry(slot & (layout.Size - 1)), out ulong raw);
        id = Narrow.LowUInt32(raw & uint.MaxValue);
        len = Narrow.LowUInt32(raw >> 32);
        return ok;
    }
}
