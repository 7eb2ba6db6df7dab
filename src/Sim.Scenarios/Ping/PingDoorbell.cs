using System.Buffers.Binary;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;

namespace Sim.Scenarios.Ping;

/// <summary>
/// The userspace side of the ping doorbell page: writes the ioeventfd did not absorb (a wrong value
/// or width) exit to here, and, as QEMU's virtio_queue_notify does while a host notifier is set up,
/// the handler forwards the kick by signalling the same eventfd. Reading offset 0 returns the number
/// of such slow kicks; everything else reads all-ones.
/// </summary>
internal sealed class PingDoorbell : IBusDevice
{
    private readonly EventFd _doorbell;

    public PingDoorbell(EventFd doorbell) => _doorbell = doorbell;

    public uint SlowKicks { get; private set; }

    public void Read(BusKind bus, ulong offset, Span<byte> data)
    {
        if (offset == 0 && data.Length == 4)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(data, SlowKicks);
            return;
        }
        data.Fill(0xFF);
    }

    public void Write(BusKind bus, ulong offset, ReadOnlySpan<byte> data)
    {
        if (offset != 0)
            return;
        SlowKicks = unchecked(SlowKicks + 1);
        _doorbell.Signal();
    }
}
