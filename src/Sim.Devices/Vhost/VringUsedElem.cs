namespace Sim.Devices.Vhost;

/// <summary>struct vring_used_elem: id (le32) + len (le32), as passed to vhost_add_used_n.</summary>
public readonly record struct VringUsedElem(uint Id, uint Len);
