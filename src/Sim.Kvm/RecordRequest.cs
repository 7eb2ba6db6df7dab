namespace Sim.Kvm;

/// <summary>What to record: the scenario whose machine serves the guest, its options (scenario options and the
/// guest's parameters), the guest image, and the header's provenance.</summary>
/// <param name="Scenario">Scenario name (demo, virtio-demo, vhost-demo, factorial, counter, blk).</param>
/// <param name="Options">Scenario options (also the source of the guest's parameter block).</param>
/// <param name="GuestName">Guest name for the header (e.g. "demo").</param>
/// <param name="Image">The flat guest binary, loaded at 0x100000.</param>
/// <param name="Backend">virtio, vhost or kernel-vhost (header option "backend").</param>
/// <param name="VirtsimVersion">virtsim's version for the header.</param>
/// <param name="GitCommit">The build's commit for the header.</param>
public sealed record RecordRequest(
    string Scenario,
    IReadOnlyDictionary<string, string> Options,
    string GuestName,
    byte[] Image,
    string Backend,
    string VirtsimVersion,
    string GitCommit
)
{
    /// <summary>Wall-clock limit of the guest's run (a guest that never reaches its exit port).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>False: the recorder is off. The same guest, machine, threads and memory sync run, but no trace
    /// sink is attached and nothing is written (the output stream is not touched): the baseline that recording
    /// overhead is measured against.</summary>
    public bool Trace { get; init; } = true;

    /// <summary>Overrides arg[0..] of the guest's parameter block (guest-specific, docs/recording.md §2: the stress
    /// guest's queue size, requests in flight, no EVENT_IDX/INDIRECT); null: what the options give.</summary>
    public IReadOnlyList<uint>? GuestArgs { get; init; }

    /// <summary>Most exits served (a guest looping on exits forever).</summary>
    public long ExitsMax { get; init; } = 50_000_000;

    /// <summary>How the kernel-vhost backend's kick and call reach KVM (<see cref="Sim.Kvm.KernelVhostWiring"/>):
    /// relayed by the recorder (default) or wired straight to KVM_IOEVENTFD and KVM_IRQFD.</summary>
    public string KernelVhostWiring { get; init; } = Sim.Kvm.KernelVhostWiring.Relay;

    /// <summary>The kernel vhost-demo device the kernel-vhost backend drives.</summary>
    public string KernelVhostDevice { get; init; } = KernelVhostDataPath.DevicePathDefault;
}
