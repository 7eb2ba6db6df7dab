using System.Buffers.Binary;
using Sim.Devices.Pci;
using Sim.Devices.Vhost;
using Sim.Devices.Vhost.Frontend;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Kvm.KernelVhost;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;
using Sim.Scenarios.Recording;
using Sim.Spec.Virtio;

namespace Sim.Kvm;

/// <summary>
/// <c>--backend kernel-vhost</c> (docs/kvm-lab.md): the vhost-demo machine's queue served by the real kernel
/// vhost-demo module (lab/vhost-demo, <c>/dev/vhost-demo</c>) instead of our model. The frontend
/// (<see cref="VhostDemoFrontendDevice"/>, QEMU's side) runs as always; when it starts vhost (DRIVER_OK) the same
/// start goes to the kernel through the real ioctls — SET_OWNER and GET_FEATURES at realize, then SET_FEATURES,
/// SET_MEM_TABLE (guest RAM at this process's real mapping of it), SET_VRING_NUM/BASE/ADDR/KICK/CALL and the
/// module's SET_BACKEND — and our model's worker is unhooked from the kick, so it never runs.
/// <para>
/// Kick and call are relayed by the recorder's host thread rather than wired straight into KVM: the guest's notify
/// write reaches the queue's KVM_IOEVENTFD (the recorder's, <see cref="IoEventFdMirror"/>), the host thread records
/// it and brings the machine's memory up to date, then signals the kernel's kick eventfd, so the kernel only ever
/// runs after the guest's stores are attributed to the guest; the kernel's call eventfd is polled by the host
/// thread, which attributes the kernel's writes to the device and then raises the interrupt through the machine's
/// irqfd model (KVM_SIGNAL_MSI, an IrqInject event). A call eventfd handed to KVM_IRQFD could not be recorded: KVM
/// consumes it exclusively (virt/kvm/eventfd.c <c>kvm_irqfd_assign</c> queues <c>irqfd_wakeup</c> with
/// <c>add_wait_queue_priority</c>, which clears the counter and ends the wake-up), so no other waiter sees it.
/// </para>
/// <para>
/// Device output: the kernel writes guest RAM through its userspace mapping (copy_to_user), which KVM's dirty log
/// does not see. At each activation, after a worker barrier (<see cref="KernelVhostDevice.Flush"/>: no kernel work
/// runs until the next relayed kick), the used ring and the writable buffers of the chains the kernel completed
/// since the last look (walked in real memory from the new used elements) are compared with the machine's memory,
/// and each changed run becomes a DeviceWrite of the backend's trace source; the guest's dirty-page diff then sees
/// only the guest's stores. Replay checks these writes against our vhost-demo model (<see cref="KvmTraceReplay"/>).
/// </para>
/// Called under the recorder's lock only.
/// </summary>
internal sealed partial class KernelVhostDataPath : IDisposable
{
    /// <summary>The device node of lab/vhost-demo.</summary>
    public const string DevicePathDefault = "/dev/vhost-demo";

    /// <summary>Bytes of one writable buffer compared (the demo's responses are 8 bytes).</summary>
    public const int BufferBytesMax = 64 * 1024;

    private readonly KernelVhostDevice _dev;
    private readonly GuestRam _ram;
    private readonly ExternalMachine _machine;
    private readonly DeviceWriteCopier _copier;
    private readonly VirtioPciTransport _transport;
    private readonly VhostDemoFrontendDevice _frontend;
    private readonly HostEventFd _kick = new();
    private readonly HostEventFd _call = new();
    private readonly byte[] _page = new byte[GuestMemory.PageSize];
    private readonly List<(ulong Gpa, ulong Length)> _ranges = new();
    private EventFd? _simCall;
    private bool _workPending;
    private ushort _lastUsedIdx;
    private bool _live;
    private ulong _descGpa;
    private ulong _usedGpa;
    private uint _num;

    public KernelVhostDataPath(
        string devicePath,
        GuestRam ram,
        ExternalMachine machine,
        DeviceWriteCopier copier,
        HostPoller poller,
        ulong callToken,
        DirectWiring? direct = null
    )
    {
        _ram = ram;
        _wiring = direct;
        _machine = machine;
        _copier = copier;
        (_transport, _frontend) = FindFrontend(machine.Kvm)
            ?? throw new ArgumentException(
                "--backend kernel-vhost serves the vhost-demo machine only (no vhost-demo frontend in this scenario)"
            );
        if (!File.Exists(devicePath))
            throw new KvmException(
                $"{devicePath} is missing: the kernel-vhost backend needs the lab's vhost-demo module (scripts/kvm-lab)"
            );
        try
        {
            _dev = new KernelVhostDevice(devicePath);
        }
        catch (KernelVhostException e)
        {
            throw new KvmException($"open {devicePath}: {e.Message}");
        }
        // vhost_demo_init (QEMU realize): SET_OWNER, GET_FEATURES.
        Check(_dev.SetOwner(), "VHOST_SET_OWNER");
        Check(_dev.GetFeatures(out ulong offered), "VHOST_GET_FEATURES");
        KernelFeatures = offered;
        poller.Add(_call, callToken);
    }

    /// <summary>What the kernel module offered (VHOST_GET_FEATURES).</summary>
    public ulong KernelFeatures { get; }

    public bool Started { get; private set; }

    public long Kicks { get; private set; }

    public long Calls { get; private set; }

    public long DeviceStores { get; private set; }

    /// <summary>True for the recorder's mirror of the queue's notify ioeventfd (the kick the kernel gets).</summary>
    public bool IsKick(EventFd simFd) => ReferenceEquals(simFd, _transport.GetHostNotifier(0));

    /// <summary>After each exit: follow the frontend's vhost start and stop (set on its DRIVER_OK and reset
    /// writes), before the machine runs anything the exit queued.</summary>
    public void Follow()
    {
        if (_frontend.VhostStarted && !Started)
            Start();
        else if (!_frontend.VhostStarted && Started)
            Stop();
    }

    /// <summary>The host thread recorded a kick of the queue: pass it to the kernel.</summary>
    public void Relay()
    {
        if (!Started)
            return;
        Kicks++;
        _workPending = true;
        _kick.Signal();
    }

    /// <summary>The host thread woke on the kernel's call eventfd (the device's writes are in the machine by now:
    /// the caller synced first): raise the interrupt the model's vhost_signal would, through the same
    /// eventfd.</summary>
    public void OnCall()
    {
        if (_call.Drain() == 0 || _simCall is null)
            return;
        Calls++;
        using (_machine.Simulation.Memory.As(MemoryActor.Device))
            _simCall.Signal();
    }

    /// <summary>At each activation, before the guest's dirty-page diff: the kernel's writes since the last look,
    /// as DeviceWrite events.</summary>
    public void SyncDevice()
    {
        if (!_live)
            return;
        if (_workPending)
        {
            _dev.Flush(); // vhost_dev_flush: the handler of every relayed kick has returned
            _workPending = false;
        }
        ulong used = _usedGpa;
        uint num = _num;
        GuestMemory memory = _machine.Simulation.Memory;
        uint savedSource = _machine.Simulation.MemoryTraceSource;
        _machine.Simulation.MemoryTraceSource = _frontend.Backend.Device.TraceId;
        _copier.Suspended = true; // the real RAM holds these bytes already
        try
        {
            if (TryRealUInt16(used + VirtioSpec.UsedIdxOffset, out ushort usedIdx))
            {
                // The chains completed since the last look: their writable buffers, then the used ring.
                int completed = Math.Min((ushort)(usedIdx - _lastUsedIdx), (int)num);
                for (int i = 0; i < completed; i++)
                {
                    ulong elem =
                        used
                        + VirtioSpec.UsedRingOffset
                        + ((unchecked((ushort)(_lastUsedIdx + i)) % num) * VirtioSpec.UsedElemSize);
                    if (TryRealUInt32(elem + VirtioSpec.UsedElemIdOffset, out uint head))
                        DiffChain(head, ulong.MaxValue, memory);
                }
                _lastUsedIdx = usedIdx;
            }
            ulong usedBytes =
                VirtioSpec.UsedRingOffset + (num * VirtioSpec.UsedElemSize) + VirtioSpec.UsedAvailEventSize;
            DiffRange(used, usedBytes, memory);
        }
        finally
        {
            _copier.Suspended = false;
            _machine.Simulation.MemoryTraceSource = savedSource;
        }
    }

    private void Start()
    {
        SplitQueue q = _frontend.GetQueue(0);
        ulong ramBase = unchecked((ulong)_ram.Address);
        ulong acked = _frontend.DriverFeatures & _frontend.VhostOfferedFeatures;
        Check(_dev.SetFeatures(acked), "VHOST_SET_FEATURES");
        // QEMU's vhost memory listener: the guest RAM region at the VMM's own mapping of it.
        Check(_dev.SetMemTable([new VhostMemoryRegion(0, _ram.Size, ramBase)], 0), "VHOST_SET_MEM_TABLE");
        Check(_dev.SetVringNum(0, Narrow.AsUInt32Bits(q.Size)), "VHOST_SET_VRING_NUM");
        Check(_dev.SetVringBase(0, q.NextAvail.Value), "VHOST_SET_VRING_BASE");
        Check(
            _dev.SetVringAddr(
                0,
                new VhostVringAddr(ramBase + q.DescTable.Value, ramBase + q.AvailRing.Value, ramBase + q.UsedRing.Value)
            ),
            "VHOST_SET_VRING_ADDR"
        );
        // Our model's worker stays off the kick: only the kernel serves this queue. The call eventfd the frontend
        // gave our model (the vector's irqfd, or QEMU's userspace notifier) is where the kernel's calls go.
        VhostDevice model = _frontend.Backend.Device;
        _simCall = model.Vqs[0].Call;
        (int kickFd, int callFd) = _wiring is null ? (_kick.Fd, _call.Fd) : WireDirect(acked);
        Check(_dev.SetVringFd(VhostIoctl.SetVringKick, 0, kickFd), "VHOST_SET_VRING_KICK");
        Check(_dev.SetVringFd(VhostIoctl.SetVringCall, 0, callFd), "VHOST_SET_VRING_CALL");
        Check(_dev.SetBackend(0, _dev.Fd), "VHOST_DEMO_SET_BACKEND");
        model.SetVringKick(0, null);
        // The ring's place is kept: a reset clears the queue's registers before Stop looks a last time.
        (_descGpa, _usedGpa, _num, _live) = (q.DescTable.Value, q.UsedRing.Value, Narrow.AsUInt32Bits(q.Size), true);
        _lastUsedIdx = TryRealUInt16(q.UsedRing.Value + VirtioSpec.UsedIdxOffset, out ushort idx) ? idx : (ushort)0;
        Started = true;
    }

    private void Stop()
    {
        if (_wiring is null)
            SyncDevice(); // direct: the exit's look saw everything (the guest is stopped)
        Check(_dev.SetBackend(0, -1), "VHOST_DEMO_SET_BACKEND(-1)");
        _ = _dev.GetVringBase(0, out _);
        _ = _dev.SetVringFd(VhostIoctl.SetVringKick, 0, -1);
        _ = _dev.SetVringFd(VhostIoctl.SetVringCall, 0, -1);
        UnwireDirect();
        _simCall = null;
        _live = false;
        Started = false;
    }

    /// <summary>The writable buffers of the chain at <paramref name="head"/> as device writes.</summary>
    private void DiffChain(uint head, ulong budget, GuestMemory memory)
    {
        _ranges.Clear();
        WalkWritable(head, budget, _ranges);
        foreach ((ulong gpa, ulong length) in _ranges)
            DiffRange(gpa, length, memory);
    }

    /// <summary>Adds the writable buffers of the chain at <paramref name="head"/>, walked in real memory (direct and
    /// indirect descriptors, VIRTIO 1.2 §2.7.5), bounded like vhost's translate loop, to <paramref name="into"/>:
    /// at most <paramref name="budget"/> bytes in all (a used element's len: the bytes the device wrote, §2.7.8) and
    /// <see cref="BufferBytesMax"/> per buffer.</summary>
    private void WalkWritable(uint head, ulong budget, List<(ulong Gpa, ulong Length)> into)
    {
        ulong table = _descGpa;
        uint count = _num;
        uint index = head;
        bool indirect = false;
        for (int step = 0; step < VirtioSpec.QueueSizeMax && index < count && budget > 0; step++)
        {
            ulong d = table + ((ulong)index * VirtioSpec.DescSize);
            if (
                !TryRealUInt64(d + VirtioSpec.DescAddrOffset, out ulong addr)
                || !TryRealUInt32(d + VirtioSpec.DescLenOffset, out uint len)
                || !TryRealUInt16(d + VirtioSpec.DescFlagsOffset, out ushort flags)
                || !TryRealUInt16(d + VirtioSpec.DescNextOffset, out ushort next)
            )
                return;
            if ((flags & VirtioSpec.DescFIndirect) != 0 && !indirect)
            {
                table = addr;
                count = Math.Min(len / VirtioSpec.DescSize, (uint)VirtioSpec.QueueSizeMax);
                index = 0;
                indirect = true;
                continue;
            }
            if ((flags & VirtioSpec.DescFWrite) != 0)
            {
                ulong n = Math.Min(Math.Min(len, (ulong)BufferBytesMax), budget);
                into.Add((addr, n));
                budget -= n;
            }
            if ((flags & VirtioSpec.DescFNext) == 0)
                return;
            index = next;
        }
    }

    /// <summary>Stores every changed run of the real [gpa, gpa + length) into the machine as the device.</summary>
    private void DiffRange(ulong gpa, ulong length, GuestMemory memory)
    {
        if (length == 0 || gpa >= _ram.Size || length > _ram.Size - gpa)
            return;
        ulong end = gpa + length;
        while (gpa < end)
        {
            ulong pageEnd = (gpa / GuestMemory.PageSize + 1) * GuestMemory.PageSize;
            int n = unchecked((int)(Math.Min(end, pageEnd) - gpa));
            if (!memory.TryGetSpan(new GuestAddress(gpa), Narrow.AsUInt64Bits(n), out Span<byte> known))
                return;
            Span<byte> real = _page.AsSpan(0, n);
            _ram.Slice(gpa, n).CopyTo(real);
            int i = 0;
            while (i < n)
            {
                i += known[i..].CommonPrefixLength(real[i..]);
                if (i >= n)
                    break;
                int start = i;
                while (i < n && known[i] != real[i])
                    i++;
                using (memory.As(MemoryActor.Device))
                    memory.TryWrite(new GuestAddress(gpa + (ulong)start), real[start..i]);
                DeviceStores++;
            }
            gpa += Narrow.AsUInt64Bits(n);
        }
    }

    private bool TryRealUInt16(ulong gpa, out ushort value)
    {
        value = gpa <= _ram.Size - 2 ? BinaryPrimitives.ReadUInt16LittleEndian(_ram.Slice(gpa, 2)) : (ushort)0;
        return gpa <= _ram.Size - 2;
    }

    private bool TryRealUInt32(ulong gpa, out uint value)
    {
        value = gpa <= _ram.Size - 4 ? BinaryPrimitives.ReadUInt32LittleEndian(_ram.Slice(gpa, 4)) : 0;
        return gpa <= _ram.Size - 4;
    }

    private bool TryRealUInt64(ulong gpa, out ulong value)
    {
        value = gpa <= _ram.Size - 8 ? BinaryPrimitives.ReadUInt64LittleEndian(_ram.Slice(gpa, 8)) : 0;
        return gpa <= _ram.Size - 8;
    }

    private static (VirtioPciTransport, VhostDemoFrontendDevice)? FindFrontend(KvmModel kvm)
    {
        foreach (IoBusRange range in kvm.Pio.Ranges)
        {
            if (range.Device is not PciHostBridge bridge)
                continue;
            for (int slot = 0; slot < PciHostBridge.SlotCount; slot++)
            {
                if (bridge.GetDevice(slot) is VirtioPciTransport { Device: VhostDemoFrontendDevice f } t)
                    return (t, f);
            }
        }
        return null;
    }

    private static void Check(VhostResult r, string what)
    {
        if (r != VhostResult.Ok)
            throw new KvmException($"kernel vhost-demo refused {what}: {r} (errno {(int)r})");
    }

    public void Dispose()
    {
        UnwireDirect();
        _dev.Dispose(); // vhost_demo_release: detach, flush, stop, cleanup
        _kick.Dispose();
        _call.Dispose();
    }
}
