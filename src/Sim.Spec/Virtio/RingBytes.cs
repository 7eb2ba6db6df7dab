using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Sim.Engine.Memory;

namespace Sim.Spec.Virtio;

/// <summary>
/// Little-endian loads and stores (VIRTIO 1.2 §1.4) at byte <c>at</c> of a ring's bytes, for the batch ring calls of
/// <c>SplitQueue</c> and the driver side: they take a ring's window as a span once per batch, check its length
/// against the ring's size there, and then address only fields that lie inside it by construction (slots masked to
/// the size, descriptor indices checked against it). These helpers therefore do not check <c>at</c> again: a caller
/// must hold that guarantee for every offset it passes.
/// </summary>
public static class RingBytes
{
    /// <summary>The u16 at byte <paramref name="at"/> (avail.idx, a ring entry, an event index).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ReadLe16(ref byte ring, int at)
    {
        ushort v = Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref ring, at));
        return BitConverter.IsLittleEndian ? v : BinaryPrimitives.ReverseEndianness(v);
    }

    /// <summary>The u64 at byte <paramref name="at"/> (a descriptor's addr, or its len | flags | next; a used entry's
    /// id | len).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ReadLe64(ref byte ring, int at)
    {
        ulong v = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref ring, at));
        return BitConverter.IsLittleEndian ? v : BinaryPrimitives.ReverseEndianness(v);
    }

    /// <summary>Stores a u16 at byte <paramref name="at"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteLe16(ref byte ring, int at, ushort value) =>
        Unsafe.WriteUnaligned(
            ref Unsafe.Add(ref ring, at),
            BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value)
        );

    /// <summary>Stores a u64 at byte <paramref name="at"/> (a used entry: id | len &lt;&lt; 32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteLe64(ref byte ring, int at, ulong value) =>
        Unsafe.WriteUnaligned(
            ref Unsafe.Add(ref ring, at),
            BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value)
        );

    /// <summary>Stores a whole descriptor (addr, then <paramref name="high"/> = len | flags &lt;&lt; 32 | next &lt;&lt;
    /// 48) as one 16-byte store at byte <paramref name="at"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteDescriptor(ref byte table, int at, ulong addr, ulong high)
    {
        if (!BitConverter.IsLittleEndian)
        {
            addr = BinaryPrimitives.ReverseEndianness(addr);
            high = BinaryPrimitives.ReverseEndianness(high);
        }
        Unsafe.WriteUnaligned(ref Unsafe.Add(ref table, at), Vector128.Create(addr, high));
    }

    /// <summary>After stores to <paramref name="count"/> (at most <paramref name="size"/>) consecutive entries of
    /// <paramref name="entrySize"/> bytes from slot <paramref name="firstSlot"/> of the entry array at byte
    /// <paramref name="ringOffset"/> of a ring's <paramref name="window"/>, marks them dirty: one run, or two where
    /// they wrap past the ring's end (as vhost_add_used_n splits its copy).</summary>
    public static void MarkEntriesWritten(
        GuestWindow window,
        int ringOffset,
        int entrySize,
        int size,
        int firstSlot,
        int count
    )
    {
        if (count <= 0)
            return;
        int run = Math.Min(count, size - firstSlot);
        window.MarkWritten(ringOffset + (firstSlot * entrySize), run * entrySize);
        if (count > run)
            window.MarkWritten(ringOffset, (count - run) * entrySize);
    }
}
