namespace Sim.Scenarios;

/// <summary>Guest RAM the scenario guests' drivers allocate rings and buffers from: 1 MiB at 1 MiB. The ring
/// addresses land in every committed trace, so the window must not move.</summary>
public static class GuestDmaWindow
{
    /// <summary>First byte of the window (1 MiB).</summary>
    public const ulong Base = 0x10_0000;

    /// <summary>Size of the window (1 MiB).</summary>
    public const ulong Bytes = 0x10_0000;
}
