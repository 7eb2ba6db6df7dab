using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Kvm.KernelVhost;
using Sim.Spec.Virtio;

namespace Sim.Kvm;

/// <summary>
/// <c>--kernel-vhost-wiring direct</c> (docs/recording.md §5): the kernel's eventfds wired straight to KVM, as QEMU
/// wires vhost. VHOST_SET_VRING_KICK gets the queue notify's own KVM_IOEVENTFD eventfd (taken off the recorder's
/// poller: vhost_poll_wakeup only queues the handler and never reads the counter, so the recorder reads it at its
/// looks), VHOST_SET_VRING_CALL gets the real eventfd of the vector's KVM_IRQFD (KVM consumes every signal:
/// virt/kvm/eventfd.c irqfd_wakeup), and the machine's own injections on that irqfd are recorded but not written.
/// <para>
/// The recorder looks only while the guest is stopped in an exit (no new kick can arrive): when the ioeventfd
/// counted kicks since the last look, VHOST_DEMO_GET_STATS with its flush waits for the kernel worker and returns the
/// module's counters; their difference (<see cref="KernelVhostActivity"/>) says what the kernel did since. The trace
/// then gets, at the look's time: the guest's stores (its dirty pages with the bytes the kernel owns masked: the used
/// ring and the first used.len bytes of each chain completed since the last look), one IoEventFd for the kicks, and
/// per signal the kernel's writes of the used entries it covers (DeviceWrite) followed by its IrqInject. So every
/// kernel event carries the time of the look that found it; it happened after the previous look.
/// </para>
/// </summary>
internal sealed partial class KernelVhostDataPath
{
    /// <summary>VIRTIO_RING_F_EVENT_IDX: with it vhost_notify may suppress a vhost_signal call (used_event), which
    /// the module's count cannot tell; direct wiring refuses it.</summary>
    private const int EventIdxBit = 29;

    private readonly DirectWiring? _wiring;
    private readonly List<(ulong Gpa, ulong Length)> _masks = new();
    private IoEventFdMirror.Registration? _directKick;
    private uint? _directIrqFd;
    private KernelVhostStats _stats = KernelVhostStats.Zero;

    /// <summary>The recorder's pieces direct wiring takes the real eventfds from.</summary>
    internal sealed record DirectWiring(IoEventFdMirror Mirror, KvmIrqForwarder Irq);

    /// <summary>Called back with the page mask while the guest's stores are synced.</summary>
    public delegate void GuestSync(PageMask mask);

    /// <summary>Overwrites, in a copy of real page <paramref name="page"/>, the bytes the kernel owns with the
    /// machine's, so the guest's diff does not take them for the guest's.</summary>
    public delegate void PageMask(ulong page, Span<byte> realPage);

    /// <summary>True while the queue is served with direct wiring (the recorder then looks only in exits).</summary>
    public bool DirectLive => _directIrqFd is not null;

    /// <summary>"relay" or "direct".</summary>
    public string Wiring => _wiring is null ? "relay" : "direct";

    /// <summary>Direct wiring: the guest's kicks read from the ioeventfd's counter, looks that flushed the kernel,
    /// and the interrupts recorded from the module's signal count.</summary>
    public long GuestKicks { get; private set; }

    public long Flushes { get; private set; }

    public long Interrupts { get; private set; }

    private (int Kick, int Call) WireDirect(ulong acked)
    {
        DirectWiring w = _wiring!;
        if ((acked & (1UL << EventIdxBit)) != 0)
        {
            throw new KvmException(
                "--kernel-vhost-wiring direct: the driver acked EVENT_IDX, with which vhost_signal "
                    + "may not signal; the module's count would not be the interrupts (use relay)"
            );
        }
        uint id = 0;
        HostEventFd? call = null;
        if (_simCall is not null && _machine.Kvm.TryFindIrqFd(_simCall, out id, out _))
            call = w.Irq.RealIrqFdOf(id);
        if (call is null)
        {
            throw new KvmException(
                "--kernel-vhost-wiring direct needs the queue's call to be a KVM_IRQFD (irq=msix); "
                    + "with irq=intx QEMU's userspace notifier raises INTx (use relay)"
            );
        }
        _directKick = w.Mirror.Detach(_transport.GetHostNotifier(0)!)
            ?? throw new KvmException("--kernel-vhost-wiring direct: the queue notify has no KVM_IOEVENTFD to give it");
        Check(_dev.GetDemoStats(flush: true, out _stats), "VHOST_DEMO_GET_STATS (a module older than direct wiring?)");
        w.Irq.SetObserved(id, true);
        _directIrqFd = id;
        return (_directKick.Real.Fd, call.Fd);
    }

    private void UnwireDirect()
    {
        if (_wiring is null)
            return;
        if (_directIrqFd is uint id)
            _wiring.Irq.SetObserved(id, false);
        if (_directKick is not null)
            _wiring.Mirror.Reattach(_directKick);
        (_directIrqFd, _directKick) = (null, null);
    }

    /// <summary>One look, the guest stopped in an exit (or at its end): what the kernel did since the last look, then
    /// the guest's stores through <paramref name="syncGuest"/>, the kick, and per signal the kernel's writes and the
    /// interrupt, all at <paramref name="now"/>.</summary>
    public void Look(long now, GuestSync syncGuest)
    {
        ArgumentNullException.ThrowIfNull(syncGuest);
        ulong kicks = _directKick!.Real.Drain();
        KernelVhostActivity activity = new(0, 0, []);
        ushort usedIdx = _lastUsedIdx;
        if (kicks > 0)
        {
            // A kick queued the handler inside the guest's write (ioeventfd_write → eventfd_signal →
            // vhost_poll_wakeup); with none since the last look the kernel has had nothing to do.
            GuestKicks += checked((long)kicks);
            Check(_dev.GetDemoStats(flush: true, out KernelVhostStats after), "VHOST_DEMO_GET_STATS");
            Flushes++;
            if (!TryRealUInt16(_usedGpa + VirtioSpec.UsedIdxOffset, out usedIdx))
                throw new KvmException("the used ring is outside guest RAM");
            if (!KernelVhostActivity.TryDiff(_stats, after, _lastUsedIdx, usedIdx, out activity, out string error))
                throw new KvmException("--kernel-vhost-wiring direct: " + error);
            _stats = after;
        }
        MaskKernelOwned(usedIdx);
        syncGuest(MaskPage);
        IoEventFdMirror.Registration k = _directKick;
        if (kicks > 0)
            _machine.Kick(now, k.Bus, k.Address, k.KickSize, k.KickValue);
        GuestMemory memory = _machine.Simulation.Memory;
        foreach (ushort at in activity.SignalUsedIdx)
        {
            AttributeUsed(at, memory);
            using (memory.As(MemoryActor.Device))
                _simCall?.Signal(); // recorded; the real irqfd already fired
            _machine.AdvanceTo(now);
            Interrupts++;
        }
        AttributeUsed(usedIdx, memory);
        AsDevice(() => DiffRange(_usedGpa, UsedRingBytes(), memory)); // flags, avail_event: vhost's notify hints
    }

    /// <summary>The kernel's writes of the used entries up to <paramref name="usedIdx"/>: each chain's first used.len
    /// writable bytes, its used element, then used->idx = <paramref name="usedIdx"/>.</summary>
    private void AttributeUsed(ushort usedIdx, GuestMemory memory) =>
        AsDevice(() =>
        {
            for (int i = 0; _lastUsedIdx != usedIdx && i < VirtioSpec.QueueSizeMax; i++)
            {
                ulong elem = UsedElem(_lastUsedIdx);
                if (TryUsedElem(elem, out uint head, out uint len))
                    DiffChain(head, len, memory);
                DiffRange(elem, VirtioSpec.UsedElemSize, memory);
                _lastUsedIdx = Narrow.ToUInt16Wrapping(_lastUsedIdx + 1);
            }
            Span<byte> idx = stackalloc byte[2];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(idx, usedIdx);
            var at = new GuestAddress(_usedGpa + VirtioSpec.UsedIdxOffset);
            if (memory.TryGetSpan(at, 2, out Span<byte> known) && !known.SequenceEqual(idx))
            {
                using (memory.As(MemoryActor.Device))
                    memory.TryWrite(at, idx);
                DeviceStores++;
            }
        });

    /// <summary>The bytes the guest's diff must leave to the kernel: the whole used ring (device-written only,
    /// VIRTIO 1.2 §2.7.8) and the first used.len writable bytes of the chains completed since the last look.</summary>
    private void MaskKernelOwned(ushort usedIdx)
    {
        _masks.Clear();
        _masks.Add((_usedGpa, UsedRingBytes()));
        ushort i = _lastUsedIdx;
        for (int n = 0; i != usedIdx && n < VirtioSpec.QueueSizeMax; n++, i = Narrow.ToUInt16Wrapping(i + 1))
        {
            ulong elem = UsedElem(i);
            if (TryUsedElem(elem, out uint head, out uint len))
                WalkWritable(head, len, _masks);
        }
    }

    private void MaskPage(ulong page, Span<byte> realPage)
    {
        ulong start = page * GuestMemory.PageSize,
            end = start + GuestMemory.PageSize;
        GuestMemory memory = _machine.Simulation.Memory;
        foreach ((ulong gpa, ulong length) in _masks)
        {
            ulong from = Math.Max(gpa, start),
                to = Math.Min(gpa + length, end);
            if (from >= to || !memory.TryGetSpan(new GuestAddress(from), to - from, out Span<byte> known))
                continue;
            known.CopyTo(realPage[checked((int)(from - start))..]);
        }
    }

    private ulong UsedElem(ushort index) =>
        _usedGpa + VirtioSpec.UsedRingOffset + ((index % (ulong)_num) * VirtioSpec.UsedElemSize);

    private bool TryUsedElem(ulong elem, out uint head, out uint len)
    {
        len = 0;
        return TryRealUInt32(elem + VirtioSpec.UsedElemIdOffset, out head)
            && TryRealUInt32(elem + VirtioSpec.UsedElemLenOffset, out len);
    }

    private ulong UsedRingBytes() =>
        VirtioSpec.UsedRingOffset + (_num * VirtioSpec.UsedElemSize) + VirtioSpec.UsedAvailEventSize;

    /// <summary>Runs <paramref name="write"/> with the machine's memory writes traced as the backend's and not copied
    /// back to the real RAM (which holds them already).</summary>
    private void AsDevice(Action write)
    {
        uint savedSource = _machine.Simulation.MemoryTraceSource;
        _machine.Simulation.MemoryTraceSource = _frontend.Backend.Device.TraceId;
        _copier.Suspended = true;
        try
        {
            write();
        }
        finally
        {
            _copier.Suspended = false;
            _machine.Simulation.MemoryTraceSource = savedSource;
        }
    }
}
