namespace Sim.Kvm;

/// <summary>How the kernel-vhost backend's eventfds are wired (docs/recording.md §5, <c>virtsim record
/// --kernel-vhost-wiring</c>).</summary>
public static class KernelVhostWiring
{
    /// <summary>The recorder's host thread relays the kick to the kernel and the kernel's call into the machine's
    /// irqfd, and waits for the kernel worker at each activation: every kernel event at its own time.</summary>
    public const string Relay = "relay";

    /// <summary>As QEMU wires vhost: the queue's KVM_IOEVENTFD eventfd is the kernel's kick, the vector's KVM_IRQFD
    /// eventfd its call; the recorder learns what the kernel did from the module's counters at each exit.</summary>
    public const string Direct = "direct";

    /// <summary>The accepted values.</summary>
    public static IReadOnlyList<string> All { get; } = [Relay, Direct];
}
