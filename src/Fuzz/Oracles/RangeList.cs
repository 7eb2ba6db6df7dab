using Sim.Engine.Memory;

namespace Virtsim.Fuzz.Oracles;

/// <summary>A growable list of <see cref="GuestRange"/>s that keeps its array across <see cref="Clear"/> (no allocation
/// once warm). Membership is a linear scan: lists hold one chain's buffers.</summary>
internal sealed class RangeList
{
    private GuestRange[] _items = new GuestRange[4];
    private int[] _stamps = new int[4];

    public int Count { get; private set; }

    public GuestRange this[int index] =>
        (uint)index < (uint)Count ? _items[index] : throw new ArgumentOutOfRangeException(nameof(index));

    /// <summary>Adds <paramref name="range"/> unless it is already present (so repeated walks of one chain stay
    /// bounded by its distinct descriptors), and marks it with <paramref name="stamp"/> (the walk that reached it).
    /// Returns false when the range was already present under the same stamp: one walk reached that buffer twice, so
    /// the list, which keeps it once, is not the chain's buffers in order.</summary>
    public bool Add(GuestRange range, int stamp = 0)
    {
        for (int i = 0; i < Count; i++)
        {
            if (_items[i] != range)
                continue;
            bool again = _stamps[i] == stamp;
            _stamps[i] = stamp;
            return !again;
        }
        if (Count == _items.Length)
        {
            Array.Resize(ref _items, _items.Length * 2);
            Array.Resize(ref _stamps, _items.Length);
        }
        _stamps[Count] = stamp;
        _items[Count++] = range;
        return true;
    }

    public void Clear() => Count = 0;

    /// <summary>True when one range holds all of [address, address + length).</summary>
    public bool AnyContains(ulong address, ulong length)
    {
        for (int i = 0; i < Count; i++)
        {
            if (_items[i].Contains(address, length))
                return true;
        }
        return false;
    }

    /// <summary>Sum of the lengths (saturating).</summary>
    public ulong TotalLength()
    {
        ulong total = 0;
        for (int i = 0; i < Count; i++)
            total = _items[i].Length > ulong.MaxValue - total ? ulong.MaxValue : total + _items[i].Length;
        return total;
    }

    /// <summary>Concatenates the ranges' current bytes into <paramref name="into"/> (grown when short) by unobserved
    /// host reads; false when one range is outside <paramref name="memory"/> or the lengths sum past
    /// <paramref name="max"/> (the oracles' bound on what they copy).</summary>
    public bool TryGather(GuestMemory memory, ulong max, ref byte[] into, out int length)
    {
        length = 0;
        ulong total = TotalLength();
        if (total > max)
            return false;
        if ((ulong)into.Length < total)
            into = new byte[Math.Max(checked((int)total), into.Length * 2)];
        for (int i = 0; i < Count; i++)
        {
            GuestRange g = _items[i];
            if (!memory.TryGetSpan(new GuestAddress(g.Start), g.Length, out Span<byte> bytes))
                return false;
            bytes.CopyTo(into.AsSpan(length));
            length += bytes.Length;
        }
        return true;
    }
}
