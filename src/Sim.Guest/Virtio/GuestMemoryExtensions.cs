using Sim.Engine.Memory;

namespace Sim.Guest.Virtio;

/// <summary>Helpers for code that acts as the guest.</summary>
public static class GuestMemoryExtensions
{
    /// <summary>Attributes accesses to <see cref="MemoryActor.Guest"/> until the scope is disposed:
    /// <c>using (memory.AsGuest()) driver.TryAdd(...);</c>. A struct scope: no allocation.</summary>
    public static GuestMemory.ActorScope AsGuest(this GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        return memory.As(MemoryActor.Guest);
    }
}
