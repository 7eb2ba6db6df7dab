namespace Sim.Engine.Memory;

/// <summary>Sees every read and write made through <see cref="GuestMemory"/>'s accessors while it is
/// attached (except <see cref="MemoryActor.Host"/> accesses). Used by trace recording and by the
/// fuzzer's permission checker. Called synchronously; must not touch guest memory itself.</summary>
public interface IMemoryObserver
{
    /// <summary>A read of <paramref name="data"/>.Length bytes at <paramref name="address"/> succeeded.</summary>
    void OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data);

    /// <summary>A write of <paramref name="data"/> at <paramref name="address"/> succeeded.</summary>
    void OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data);
}
