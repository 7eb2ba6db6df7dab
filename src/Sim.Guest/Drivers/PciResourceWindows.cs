namespace Sim.Guest.Drivers;

/// <summary>
/// The firmware's address windows for BARs (SeaBIOS pci_setup on a PC: 32-bit MMIO below the
/// IOAPIC at 0xFEC00000, I/O ports from 0xC000). Allocation is a naturally aligned bump, largest
/// BAR first not attempted: the devices here have few BARs. Exhaustion returns false.
/// </summary>
public sealed class PciResourceWindows
{
    /// <summary>Default start of the 32-bit MMIO window.</summary>
    public const ulong MmioBaseDefault = 0xFE00_0000;

    /// <summary>Default end (exclusive) of the MMIO window: the IOAPIC page.</summary>
    public const ulong MmioLimitDefault = 0xFEC0_0000;

    /// <summary>Default start of the I/O window (SeaBIOS: 0xC000).</summary>
    public const ulong IoBaseDefault = 0xC000;

    /// <summary>End (exclusive) of the I/O port space.</summary>
    public const ulong IoLimitDefault = 0x1_0000;

    private readonly ulong _mmioLimit;
    private readonly ulong _ioLimit;

    /// <summary>The MMIO and I/O windows BARs are assigned from (Linux pci_assign_unassigned_resources does the same
    /// from the host bridge windows).</summary>
    public PciResourceWindows(
        ulong mmioBase = MmioBaseDefault,
        ulong mmioLimit = MmioLimitDefault,
        ulong ioBase = IoBaseDefault,
        ulong ioLimit = IoLimitDefault
    )
    {
        if (mmioBase > mmioLimit || ioBase > ioLimit || ioLimit > IoLimitDefault)
            throw new ArgumentException("empty or invalid window");
        NextMmio = mmioBase;
        NextIo = ioBase;
        _mmioLimit = mmioLimit;
        _ioLimit = ioLimit;
    }

    /// <summary>Next free MMIO address.</summary>
    public ulong NextMmio { get; private set; }

    /// <summary>Next free I/O port.</summary>
    public ulong NextIo { get; private set; }

    /// <summary>Allocates <paramref name="size"/> (a power of two) bytes aligned to their size.</summary>
    public bool TryAllocate(bool io, ulong size, out ulong address)
    {
        address = 0;
        if (size == 0 || (size & (size - 1)) != 0)
            return false;
        ulong next = io ? NextIo : NextMmio;
        ulong limit = io ? _ioLimit : _mmioLimit;
        ulong aligned = (next + size - 1) & ~(size - 1);
        if (aligned < next || aligned > limit || size > limit - aligned)
            return false;
        address = aligned;
        if (io)
            NextIo = aligned + size;
        else
            NextMmio = aligned + size;
        return true;
    }
}
