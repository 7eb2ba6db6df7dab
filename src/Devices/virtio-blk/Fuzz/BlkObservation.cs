namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// What one side of the differential pair shows after an input: the guest's 64 KiB (rings, used entries, status
/// bytes, data the device wrote), the 64 KiB disk, whether the device is broken (QEMU: <c>x-query-virtio-status</c>;
/// model: NEEDS_RESET state), the device status byte and the ISR (read, so cleared).
/// </summary>
internal sealed class BlkObservation : LockstepObservation
{
    public BlkObservation(int memoryBytes, int diskBytes)
        : base(memoryBytes) => Disk = new byte[diskBytes];

    public byte[] Disk { get; }
}
