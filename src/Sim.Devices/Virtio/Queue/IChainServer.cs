using Sim.Engine.Memory;

namespace Sim.Devices.Virtio.Queue;

/// <summary>
/// A device's handling of one popped chain inside <see cref="SplitQueue.PopServeAndSignal{TServer}"/>: reads the
/// request from the element's readable buffers, writes the response into its writable ones and returns the used.len
/// (the bytes written, VIRTIO 1.2 §2.7.8.1). Implemented by a struct so that the JIT compiles the kick's body with the
/// handler inlined (no interface dispatch per chain).
/// </summary>
public interface IChainServer
{
    /// <summary>Serves <paramref name="element"/> (popped from the queue on <paramref name="memory"/>); returns its
    /// used.len.</summary>
    uint Serve(GuestMemory memory, QueueElement element);
}
