using Sim.Spec.Pci;

namespace Sim.Guest.Drivers;

/// <summary>What the guest's enumeration found and programmed for one BAR (Linux struct resource).</summary>
/// <param name="Index">BAR number 0..5 (the low half of a 64-bit BAR).</param>
/// <param name="Kind">I/O, 32-bit or 64-bit memory.</param>
/// <param name="Address">Bus address programmed (port number for I/O).</param>
/// <param name="Size">Bytes decoded (from the sizing probe).</param>
/// <param name="Prefetchable">Memory BAR with the prefetchable bit.</param>
public readonly record struct PciBarAssignment(int Index, PciBarKind Kind, ulong Address, ulong Size, bool Prefetchable)
{
    /// <summary>True for an I/O BAR.</summary>
    public bool IsIo => Kind == PciBarKind.Io;
}
