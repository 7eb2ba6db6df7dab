namespace Sim.Engine.Memory;

/// <summary>One contiguous region of guest-physical memory, backed by a host array.</summary>
public sealed class MemoryRegion
{
    internal MemoryRegion(ulong baseAddress, byte[] bytes)
    {
        Base = baseAddress;
        Bytes = bytes;
    }

    /// <summary>Guest-physical address of the first byte.</summary>
    public ulong Base { get; }

    /// <summary>Size in bytes.</summary>
    public ulong Size => Narrow.AsUInt64Bits(Bytes.Length);

    /// <summary>The bytes. Exposed to the engine (snapshot, hash, trace) only.</summary>
    internal byte[] Bytes { get; }

    /// <summary>Read-only view of the region's bytes, for tools that inspect memory (traces, hashing).</summary>
    public ReadOnlySpan<byte> Contents => Bytes;
}
