using Sim.Spec.Blk;

namespace Sim.Devices.Virtio.Blk;

/// <summary>How a <see cref="VirtioBlkDevice"/> is built (QEMU virtio-blk properties).</summary>
public sealed record BlkDeviceOptions
{
    /// <summary>Default size of the one request queue (QEMU queue-size default is 256).</summary>
    public const int QueueSizeDefault = 256;

    /// <summary>Device behaviour (see <see cref="VirtioBlkDevice"/>).</summary>
    public Flavour Flavour { get; init; } = Flavour.Robust;

    /// <summary>Queue size (a power of two, 1..32768).</summary>
    public int QueueSize { get; init; } = QueueSizeDefault;

    /// <summary>The id string GET_ID returns (QEMU "serial"; at most 20 bytes of ASCII).</summary>
    public string Serial { get; init; } = "virtsim-blk0";

    /// <summary>seg_max advertised (QEMU: queue size - 2).</summary>
    public uint SegMax { get; init; } = QueueSizeDefault - 2;

    /// <summary>Trace source id of the device.</summary>
    public uint TraceId { get; init; } = 0x02;

    internal void Validate()
    {
        if (QueueSize < 1 || QueueSize > 32768 || (QueueSize & (QueueSize - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(QueueSize), "a power of two in 1..32768");
        ArgumentNullException.ThrowIfNull(Serial);
        if (Serial.Length > BlkSpec.IdBytes)
            throw new ArgumentOutOfRangeException(nameof(Serial), $"at most {BlkSpec.IdBytes} characters");
        foreach (char c in Serial)
        {
            if (c < 0x20 || c > 0x7E)
                throw new ArgumentException("the serial must be printable ASCII", nameof(Serial));
        }
    }
}
