using System.Runtime.CompilerServices;
using Sim.Engine.Memory;
using Sim.Spec.Virtio;

namespace Sim.Devices.Virtio.Queue;

/// <summary>One decoded descriptor (VIRTIO 1.2 §2.7.5: addr, len, flags, next), read as 16 little-endian
/// bytes.</summary>
public readonly record struct Descriptor(GuestAddress Addr, uint Len, ushort Flags, ushort Next)
{
    /// <summary>VIRTQ_DESC_F_NEXT.</summary>
    public bool HasNext
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (Flags & VirtioSpec.DescFNext) != 0;
    }

    /// <summary>VIRTQ_DESC_F_WRITE: device write-only.</summary>
    public bool IsWriteOnly
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (Flags & VirtioSpec.DescFWrite) != 0;
    }

    /// <summary>VIRTQ_DESC_F_INDIRECT: refers to a table of descriptors.</summary>
    public bool IsIndirect
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (Flags & VirtioSpec.DescFIndirect) != 0;
    }
}
