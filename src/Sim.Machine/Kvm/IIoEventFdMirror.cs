namespace Sim.Machine.Kvm;

/// <summary>Sees the machine's ioeventfd registrations change, so a real KVM can hold the same ones
/// (KVM_IOEVENTFD assign and deassign). Called under the caller's machine lock, in registration order.</summary>
public interface IIoEventFdMirror
{
    /// <summary>A registration succeeded (<paramref name="dataMatch"/> null: any value).</summary>
    void OnRegistered(BusKind bus, ulong address, int length, ulong? dataMatch, EventFd fd);

    /// <summary>A registration was removed.</summary>
    void OnUnregistered(BusKind bus, ulong address, int length, ulong? dataMatch, EventFd fd);
}
