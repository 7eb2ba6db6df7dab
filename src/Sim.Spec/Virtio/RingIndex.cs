using System.Runtime.CompilerServices;

namespace Sim.Spec.Virtio;

/// <summary>
/// A free-running 16-bit ring index (avail idx, used idx, last_avail_idx, event indices). VIRTIO 1.2
/// §2.7.6/§2.7.8: indices wrap at 65536 and are reduced modulo the queue size only when a slot is
/// addressed. This is the only deliberately wrapping (<c>unchecked</c>) arithmetic in the queue code.
/// </summary>
public readonly record struct RingIndex(ushort Value)
{
    /// <summary>This index plus one, wrapping at 65536.</summary>
    public RingIndex Next
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => new(unchecked((ushort)(Value + 1)));
    }

    /// <summary>This index minus one, wrapping below zero.</summary>
    public RingIndex Previous
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => new(unchecked((ushort)(Value - 1)));
    }

    /// <summary>Adds <paramref name="count"/> modulo 65536.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RingIndex Add(int count) => new(unchecked((ushort)(Value + count)));

    /// <summary>Subtracts <paramref name="count"/> modulo 65536.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RingIndex Subtract(int count) => new(unchecked((ushort)(Value - count)));

    /// <summary>How far <paramref name="to"/> is ahead of <paramref name="from"/>, modulo 65536
    /// (QEMU virtqueue_num_heads: <c>(uint16_t)(avail_idx - idx)</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Distance(RingIndex from, RingIndex to) => unchecked((ushort)(to.Value - from.Value));

    /// <summary>The ring slot this index addresses in a queue of power-of-two <paramref name="queueSize"/>
    /// (QEMU uses <c>idx % num</c>; equal for powers of two).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Slot(int queueSize) => Value & unchecked(queueSize - 1); // unchecked: a queue size is at least 1

    /// <summary>
    /// VIRTIO 1.2 §2.7.10 <c>vring_need_event(event_idx, new_idx, old_idx)</c>: true when moving an index
    /// from <paramref name="oldIdx"/> to <paramref name="newIdx"/> crosses <paramref name="eventIdx"/>,
    /// i.e. <c>(u16)(new - event - 1) &lt; (u16)(new - old)</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool NeedEvent(RingIndex eventIdx, RingIndex newIdx, RingIndex oldIdx) =>
        unchecked((ushort)(newIdx.Value - eventIdx.Value - 1) < (ushort)(newIdx.Value - oldIdx.Value));

    /// <summary>
    /// QEMU virtqueue_split_flush: after moving the used index from <paramref name="oldIdx"/> to
    /// <paramref name="newIdx"/>, true when <paramref name="mark"/> (signalled_used) lies inside the moved window or
    /// ahead of it, i.e. <c>(int16_t)(new - mark) &lt; (uint16_t)(new - old)</c>, so it no longer says which used
    /// entries the driver was last told about.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool MarkOvertaken(RingIndex mark, RingIndex newIdx, RingIndex oldIdx) =>
        unchecked((short)(newIdx.Value - mark.Value) < (ushort)(newIdx.Value - oldIdx.Value));

    /// <summary>The index as a decimal number (invariant culture), as traces and messages print it.</summary>
    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
