namespace Sim.Engine.Memory;

/// <summary>A copy of every region's bytes, taken by <see cref="GuestMemory.Snapshot"/>.</summary>
public sealed record MemorySnapshot(MemoryLayout Layout, IReadOnlyList<byte[]> Contents);
