namespace Virtsim.Fuzz.Oracles;

/// <summary>A growable list of <see cref="GuestRange"/>s that keeps its array across <see cref="Clear"/> (no allocation
/// once warm). Membership is a linear scan: lists hold one chain's buffers.</summary>
public sealed class RangeList
{
    private GuestRange[] _items = new GuestRange[4];

    public int Count { get; private set; }

    public GuestRange this[int index] => (uint)index < (uint)Count ? _items[index] : throw new ArgumentOutOfRangeException(nameof(index));

    /// <summary>Adds <paramref name="range"/> unless it is already present (so repeated walks of one chain stay
    /// bounded by its distinct descriptors).</summary>
    public void Add(GuestRange range)
    {
        for (int i = 0; i < Count; i++)
        {
            if (_items[i] == range) return;
        }
        if (Count == _items.Length) Array.Resize(ref _items, _items.Length * 2);
        _items[Count++] = range;
    }

    public void Clear() => Count = 0;

    /// <summary>True when one range holds all of [address, address + length).</summary>
    public bool AnyContains(ulong address, ulong length)
    {
        for (int i = 0; i < Count; i++)
        {
            if (_items[i].Contains(address, length)) return true;
        }
        return false;
    }

    /// <summary>Sum of the lengths (saturating).</summary>
    public ulong TotalLength()
    {
        ulong total = 0;
        for (int i = 0; i < Count; i++) total = _items[i].Length > ulong.MaxValue - total ? ulong.MaxValue : total + _items[i].Length;
        return total;
    }
}
