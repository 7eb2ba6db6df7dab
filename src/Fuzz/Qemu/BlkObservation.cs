namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// What one side of the differential pair shows after an input: the guest's 64 KiB (rings, used entries, status
/// bytes, data the device wrote), the 64 KiB disk, whether the device is broken (QEMU: <c>x-query-virtio-status</c>;
/// model: NEEDS_RESET state), the device status byte and the ISR (read, so cleared).
/// </summary>
public sealed class BlkObservation
{
    public BlkObservation(int memoryBytes, int diskBytes)
    {
        Memory = new byte[memoryBytes];
        Disk = new byte[diskBytes];
    }

    public byte[] Memory { get; }

    public byte[] Disk { get; }

    public bool Broken { get; set; }

    /// <summary>The model's reason, or the line QEMU printed (<c>virtio_error</c> goes to stderr).</summary>
    public string? BrokenReason { get; set; }

    public byte DeviceStatus { get; set; }

    public byte Isr { get; set; }
}
