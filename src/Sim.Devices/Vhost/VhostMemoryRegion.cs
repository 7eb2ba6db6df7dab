namespace Sim.Devices.Vhost;

/// <summary>One entry of VHOST_SET_MEM_TABLE (struct vhost_memory_region): guest-physical range
/// [<see cref="GuestPhysAddr"/>, +<see cref="MemorySize"/>) is found at <see cref="UserspaceAddr"/> in the VMM's
/// address space. flags_padding is ignored by Linux and not modelled.</summary>
public readonly record struct VhostMemoryRegion(ulong GuestPhysAddr, ulong MemorySize, ulong UserspaceAddr);
