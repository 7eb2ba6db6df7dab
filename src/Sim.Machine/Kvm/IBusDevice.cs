namespace Sim.Machine.Kvm;

/// <summary>
/// A device region on the MMIO or PIO bus, as QEMU's MemoryRegionOps see it: the bus hands it the
/// offset inside the registered range and the access's bytes (1, 2, 4 or 8; little-endian as in
/// kvm_run). A read must fill all of <c>data</c> (all-ones for unimplemented registers, as on real
/// hardware); a write with no effect is ignored. Accesses are guest-controlled: never throw.
/// </summary>
public interface IBusDevice
{
    /// <summary>Serves a guest read of <paramref name="data"/>.Length bytes at <paramref name="offset"/> into the
    /// device's range on <paramref name="bus"/>; fills <paramref name="data"/>.</summary>
    void Read(BusKind bus, ulong offset, Span<byte> data);

    /// <summary>Serves a guest write of <paramref name="data"/> at <paramref name="offset"/> into the device's range on
    /// <paramref name="bus"/>.</summary>
    void Write(BusKind bus, ulong offset, ReadOnlySpan<byte> data);
}
