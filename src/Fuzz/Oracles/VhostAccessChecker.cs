using Sim.Devices.Vhost;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// vhost's reach into guest memory, judged outside the device (STYLE item 12): every device access, mapped back to
/// the VMM's userspace address it came through, must lie in a running vring's rings or in a memory-table region's
/// userspace range as <see cref="VhostIoctlModel"/> knows them from the ioctls that succeeded — translate_desc never
/// produces an address outside the table, and the rings are the only other thing vhost reads or writes. Oracle
/// <c>permission</c>, site <c>permission/vhost-outside-table</c>.
/// </summary>
internal sealed class VhostAccessChecker : IMemoryObserver
{
    public const string Oracle = "permission";

    private readonly VmmAddressSpace _vmm;
    private readonly VhostIoctlModel _model;

    public VhostAccessChecker(VmmAddressSpace vmm, VhostIoctlModel model)
    {
        ArgumentNullException.ThrowIfNull(vmm);
        ArgumentNullException.ThrowIfNull(model);
        _vmm = vmm;
        _model = model;
    }

    public FuzzContext? Context { get; set; }

    public long Accesses { get; private set; }

    public void OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) =>
        Judge(actor, address, data.Length, "read");

    public void OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) =>
        Judge(actor, address, data.Length, "write");

    private void Judge(MemoryActor actor, GuestAddress address, int length, string what)
    {
        if (actor != MemoryActor.Device)
            return;
        Accesses++;
        if (!_vmm.TryGetUserAddress(address, out ulong user))
            return; // not guest RAM: GuestMemory refused it anyway
        if (_model.MayTouch(user, (ulong)length))
            return;
        Context?.Report(
            Oracle,
            "permission/vhost-outside-table",
            $"vhost did a {length}-byte {what} at GPA 0x{address.Value:x} (user 0x{user:x}), outside every running "
                + "vring and every memory-table region"
        );
    }
}
