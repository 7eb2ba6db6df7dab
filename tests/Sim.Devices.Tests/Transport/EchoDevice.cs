using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;

namespace Sim.Devices.Tests.Transport;

/// <summary>A test device with two queues: each request's readable bytes are copied into its writable
/// buffers and completed. With <see cref="Hold"/> popped requests are kept instead (in flight).</summary>
internal sealed class EchoDevice : VirtioDevice
{
    public const ushort Id = 42;
    public const ulong FeatureEcho = 1UL << 0;

    private readonly QueueElement _element = new();

    public EchoDevice()
        : base(Id, [16, 8], FeatureEcho, 8, traceId: 7)
    {
        Config[0] = 0x78;
        Config[1] = 0x56;
        Config[2] = 0x34;
        Config[3] = 0x12;
    }

    public bool Hold { get; set; }

    public int Handled { get; private set; }

    public int Held { get; private set; }

    public int Resets { get; private set; }

    public bool RefuseFeatures { get; set; }

    public void ChangeConfig() => NotifyConfigChanged();

    protected override void HandleQueueNotify(int queueIndex)
    {
        Handled++;
        Span<byte> buffer = stackalloc byte[64];
        for (int n = 0; n < 64 && TryPop(queueIndex, _element); n++)
        {
            if (Hold)
            {
                Held++;
                continue;
            }
            int read = _element.ReadOut(Memory, 0, buffer);
            int written = _element.WriteIn(Memory, 0, buffer[..read]);
            TryPush(queueIndex, _element, (uint)written);
            NotifyQueue(queueIndex);
        }
    }

    protected override void OnReset()
    {
        Resets++;
        Held = 0;
    }

    protected override bool ValidateFeatures(ulong driverFeatures) => !RefuseFeatures;
}
