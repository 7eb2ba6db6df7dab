using Sim.Engine.Memory;

namespace Sim.Guest.Virtio;

/// <summary>One buffer the driver offers (Linux's scatterlist entry): guest address and length.</summary>
public readonly record struct GuestBuffer(GuestAddress Addr, uint Len);
