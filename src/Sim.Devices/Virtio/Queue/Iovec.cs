using Sim.Engine.Memory;

namespace Sim.Devices.Virtio.Queue;

/// <summary>One guest buffer piece of a popped element: lies inside one guest memory region (validated at
/// pop).</summary>
public readonly record struct Iovec(GuestAddress Addr, uint Len);
