namespace Sim.Machine.Kvm;

/// <summary>One device range registered on an <see cref="IoBus"/>: [Base, Base + Size).</summary>
public readonly record struct IoBusRange(ulong Base, ulong Size, IBusDevice Device, string Name)
{
    /// <summary>True when [address, address + length) lies inside this range. Overflow-safe.</summary>
    public bool Contains(ulong address, ulong length) =>
        address >= Base && length <= Size && address - Base <= Size - length;
}
