namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// What one side of the net differential pair shows after an input: the guest's 64 KiB (rings, used entries (id, len),
/// the headers and frames the device wrote), whether the device is broken, the device status byte and the ISR (read,
/// so cleared). On the model side <see cref="DeviceWrote"/> marks the bytes the model's device stored, so that the
/// comparison can tell a num_buffers byte the model wrote and QEMU 7.2 did not (NetQemu72Differences).
/// </summary>
internal sealed class NetObservation : LockstepObservation
{
    public NetObservation(int memoryBytes)
        : base(memoryBytes) => DeviceWrote = new bool[memoryBytes];

    public bool[] DeviceWrote { get; }

    /// <summary>The last frames (at most <see cref="Sim.Devices.Virtio.Net.NetBackend.TransmittedKeptMax"/>, oldest
    /// first) the device put on its link: the model's sink, or the datagrams QEMU sent to our socket.</summary>
    public List<byte[]> Sent { get; } = [];

    /// <summary>Every frame the device put on its link during the input.</summary>
    public long SentCount { get; private set; }

    /// <summary>Records what was sent (copies the list).</summary>
    public void SetSent(IEnumerable<byte[]> frames, long count)
    {
        ArgumentNullException.ThrowIfNull(frames);
        Sent.Clear();
        Sent.AddRange(frames);
        SentCount = count;
    }
}
