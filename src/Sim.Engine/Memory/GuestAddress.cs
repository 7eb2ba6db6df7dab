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

    public int CompareTo(GuestAddress other) => Value.CompareTo(other.Value);

    // Ordering operators to match CompareTo (CA1036).
    public static bool operator <(GuestAddress left, GuestAddress right) => left.Value < right.Value;
    public static bool operator <=(GuestAddress left, GuestAddress right) => left.Value <= right.Value;
    public static bool operator >(GuestAddress left, GuestAddress right) => left.Value > right.Value;
    public static bool operator >=(GuestAddress left, GuestAddress right) => left.Value >= right.Value;

    public override string ToString() => $"0x{Value:x}";
}
