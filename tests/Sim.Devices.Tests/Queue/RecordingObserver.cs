using Sim.Engine.Memory;

namespace Sim.Devices.Tests.Queue;

/// <summary>Records every observed access (address, length, actor, write?) for the property tests.</summary>
internal sealed class RecordingObserver : IMemoryObserver
{
    public readonly record struct Access(MemoryActor Actor, ulong Address, int Length, bool Write);

    public List<Access> Accesses { get; } = [];

    public void OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) =>
        Accesses.Add(new Access(actor, address.Value, data.Length, false));

    public void OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) =>
        Accesses.Add(new Access(actor, address.Value, data.Length, true));

    public static bool Inside(GuestMemory memory, Access a) =>
        memory.Regions.Any(r =>
            a.Address >= r.Base && (ulong)a.Length <= r.Size && a.Address - r.Base <= r.Size - (ulong)a.Length
        );
}
