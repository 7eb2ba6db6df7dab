namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// What one side of a real-QEMU differential pair shows after an input, whatever the device: the guest's 64 KiB
/// (rings, used entries, what the device wrote), whether the device is broken (QEMU: <c>x-query-virtio-status</c> or
/// its NEEDS_RESET bit; model: NEEDS_RESET state), the device status byte and the ISR (read, so cleared). Read by
/// <see cref="ObservationReader"/>; a device's observation adds its own (<see cref="BlkObservation.Disk"/>,
/// <see cref="RngObservation.Entropy"/>, <see cref="NetObservation.DeviceWrote"/>).
/// </summary>
internal class LockstepObservation
{
    public LockstepObservation(int memoryBytes) => Memory = new byte[memoryBytes];

    public byte[] Memory { get; }

    public bool Broken { get; set; }

    /// <summary>The model's reason, or the line QEMU printed (<c>virtio_error</c> goes to stderr).</summary>
    public string? BrokenReason { get; set; }

    public byte DeviceStatus { get; set; }

    public byte Isr { get; set; }
}
