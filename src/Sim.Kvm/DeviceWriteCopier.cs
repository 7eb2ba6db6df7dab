using Sim.Engine.Memory;

namespace Sim.Kvm;

/// <summary>Copies every device write into the real guest RAM (docs/recording.md §3: device writes go to both
/// copies), so the real guest sees what the device model wrote. The guest's own stores, applied to the machine's
/// copy from the dirty-log diff, came from the real RAM and are not copied back.</summary>
internal sealed class DeviceWriteCopier(GuestRam ram) : IMemoryObserver
{
    public long BytesCopied { get; private set; }

    /// <summary>While true, device writes are not copied: the kernel-vhost path stores into the machine the bytes it
    /// read from the real RAM (<see cref="KernelVhostDataPath"/>), which must not be written back over the
    /// guest's.</summary>
    public bool Suspended { get; set; }

    public void OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) { }

    public void OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data)
    {
        if (actor != MemoryActor.Device || Suspended)
            return;
        // GuestMemory's region is the slot's [0, size): the same offsets.
        data.CopyTo(ram.Slice(address.Value, data.Length));
        BytesCopied += data.Length;
    }
}
