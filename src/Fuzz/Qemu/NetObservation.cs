namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// What one side of the net differential pair shows after an input: the guest's 64 KiB (rings, used entries (id, len),
/// the headers and frames the device wrote), whether the device is broken, the device status byte and the ISR (read,
/// so cleared). On the model side <see cref="DeviceWrote"/> marks the bytes the model's device stored, so that the
/// comparison can tell a num_buffers byte the model wrote and QEMU 7.2 did not (NetQemu72Differences).
/// </summary>
public sealed class NetObservation : LockstepObservation
{
    public NetObservation(int memoryBytes) : base(memoryBytes) => DeviceWrote = new bool[memoryBytes];

    public bool[] DeviceWrote { get; }
}
