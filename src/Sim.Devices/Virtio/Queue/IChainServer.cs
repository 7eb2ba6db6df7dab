using Sim.Engine.Memory;

namespace Sim.Devices.Virtio.Queue;

/// <summary>
/// A device's handling of one popped chain inside <see cref="SplitQueue.PopServeAndSignal{TServer}"/>: reads the
/// request from the element's readable buffers, writes the response into its writable ones and returns the used.len
/// (the bytes written, VIRTIO 1.2 §2.7.8.1). Implemented by a struct so that the JIT compiles the kick's body with the
/// handler inlined (no interface dispatch per chain).
/// </summary>
/// <remarks>
/// A server may also serve element-free (issue 13 section 5): with <see cref="ServesDirect"/> true, the unobserved
/// kick hands each chain of at most one readable then one writable buffer, both inside the descriptor table's region,
/// to <see cref="ServeDirect"/> as a <see cref="DirectChain"/> (no <see cref="QueueElement"/> written or read back,
/// no address lookups), and every other chain to <see cref="Serve"/> with its element. The two must serve a chain
/// alike: <see cref="ServeDirect"/> must do, through the <see cref="DirectChain"/>'s same-named members, exactly what
/// <see cref="Serve"/> does through the element's (observed kicks, the reference, call only <see cref="Serve"/>).
/// </remarks>
public interface IChainServer
{
    /// <summary>Serves <paramref name="element"/> (popped from the queue on <paramref name="memory"/>); returns its
    /// used.len.</summary>
    uint Serve(GuestMemory memory, QueueElement element);

    /// <summary>True when the server implements <see cref="ServeDirect"/> (a constant per server type, so each kick
    /// body is compiled for one answer).</summary>
    static virtual bool ServesDirect => false;

    /// <summary>Serves <paramref name="chain"/> as <see cref="Serve"/> serves the element of the same chain; returns
    /// its used.len. Called only when <see cref="ServesDirect"/> is true.</summary>
    uint ServeDirect(DirectChain chain) =>
        throw new NotSupportedException("a server that does not serve directly got a direct chain");
}
