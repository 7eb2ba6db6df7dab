namespace Sim.Engine.Memory;

/// <summary>A guest-physical address. Typed so that offsets, lengths and addresses cannot be mixed up
/// silently; arithmetic that could overflow goes through <see cref="TryAdd"/>.</summary>
public readonly record struct GuestAddress(ulong Value) : IComparable<GuestAddress>
{
    /// <summary>Adds <paramref name="offset"/>, failing instead of wrapping past 2^64.</summary>
    public bool TryAdd(ulong offset, out GuestAddress result)
    {
        if (offset > ulong.MaxValue - Value)
        {
            result = default;
            return false;
        }
        result = new GuestAddress(Value + offset);
        return true;
    }

    /// <summary>Orders addresses by value.</summary>
    public int CompareTo(GuestAddress other) => Value.CompareTo(other.Value);

    // Ordering operators to match CompareTo (CA1036).
    /// <summary>Whether <paramref name="left"/> is below <paramref name="right"/>.</summary>
    public static bool operator <(GuestAddress left, GuestAddress right) => left.Value < right.Value;

    /// <summary>Whether <paramref name="left"/> is at or below <paramref name="right"/>.</summary>
    public static bool operator <=(GuestAddress left, GuestAddress right) => left.Value <= right.Value;

    /// <summary>Whether <paramref name="left"/> is above <paramref name="right"/>.</summary>
    public static bool operator >(GuestAddress left, GuestAddress right) => left.Value > right.Value;

    /// <summary>Whether <paramref name="left"/> is at or above <paramref name="right"/>.</summary>
    public static bool operator >=(GuestAddress left, GuestAddress right) => left.Value >= right.Value;

    /// <summary>The address in hex, "0x1000".</summary>
    public override string ToString() => $"0x{Value:x}";
}
