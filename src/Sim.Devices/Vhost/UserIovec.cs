namespace Sim.Devices.Vhost;

/// <summary>One struct iovec that vhost builds: a range of the VMM's (userspace) address space.</summary>
public readonly record struct UserIovec(ulong Base, ulong Len);
