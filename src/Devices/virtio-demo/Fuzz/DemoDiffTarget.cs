using System.Buffers.Binary;
using Sim.Devices;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Demo;
using Sim.Devices.Virtio.Queue;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Engine.Time;
using Sim.Machine.Simulation;
using Virtsim.Fuzz.Input;
using Virtsim.Fuzz.Mutation;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets.Rings;

namespace Virtsim.Fuzz.Targets;

/// <summary>
/// Oracle 7, differential: the same decoded <see cref="RingInput"/> (v1) drives the QEMU-style virtio-demo
/// (<see cref="VirtioDemoDevice"/> behind virtio-pci, <see cref="QemuBackendRig"/>) and vhost-demo on the vhost core
/// (<see cref="VhostBackendRig"/>), each in its own simulation with identical guest memory, ring placement and
/// features. Guest ops 0..7 run on both; device ops: 8 kick both, 9 run both for the same number of windows (the
/// scheduler's choice), 14 kick + run, others idle (resets and control-plane edits have no common meaning).
/// After every run and after the final drain the guest-visible results are compared: used.idx, each used element
/// (id, len) in completion order, every byte of guest memory except the device-owned suppression words (used.flags,
/// avail_event, written at implementation-defined times: VIRTIO 1.2 §2.7.7, §2.7.10), and the device state
/// (<c>buff</c>). Interrupts are judged per side by <see cref="MissedInterruptOracle"/> (their count may legitimately
/// differ: spurious interrupts are allowed, §2.7.7.2).
/// <para>The invalid-ring rule: once either side detects an invalid ring — QEMU's virtio_error (the device is broken,
/// NEEDS_RESET, VIRTIO 1.2 §2.1.2) or vhost's vq_err (the vring stops, vhost_get_vq_desc returns an error) — or the
/// vhost worker is busy on a ring its own writes feed, only what both completed before is compared: the common prefix
/// of the used elements. The two legitimately diverge from there: QEMU stops every queue while vhost stops one vring,
/// and their validations differ (e.g. Linux vhost_get_vq_desc accepts a zero-length indirect table entry count that
/// QEMU's virtqueue_pop rejects; see the notes in src/Sim.Devices/Vhost/VhostVirtqueue.cs). INDIRECT_DESC is always
/// negotiated on both sides: Linux vhost_get_vq_desc follows VRING_DESC_F_INDIRECT whether or not the feature was
/// acked, the QEMU-style queue does not, a documented validation difference the header bit would otherwise
/// expose.</para>
/// </summary>
internal sealed class DemoDiffTarget : IFuzzTarget
{
    public const int OperationsMax = 128;

    /// <summary>Simulated nanoseconds one "run" window lets pass on each side.</summary>
    public const long RunWindowNs = VhostBackendRig.RunWindowNs;

    /// <summary>QEMU side events per run before it counts as a hang.</summary>
    public const long EventsMax = 200_000;

    /// <summary>Used elements remembered per side (beyond it, comparison stops; a guest of
    /// <see cref="OperationsMax"/> moves cannot honestly get this many completions).</summary>
    public const int UsedLogMax = 4096;

    private readonly GuestActor _guestQemu = new();
    private readonly GuestActor _guestVhost = new();
    private readonly MissedInterruptOracle _interruptsQemu = new();
    private readonly MissedInterruptOracle _interruptsVhost = new();
    private readonly Side _qemu = new();
    private readonly Side _vhost = new();
    private bool _diverged;
    private ulong _desc;
    private ulong _used;
    private int _size;

    private readonly Action<VhostBackendRig>? _afterVhostStart;
    private readonly Action<VhostBackendRig>? _afterVhostRun;

    /// <summary>The target; <paramref name="afterVhostStart"/> (once the vring runs) and
    /// <paramref name="afterVhostRun"/> (after every vhost run, before the comparison) let a test turn the vhost side
    /// into a deliberately divergent backend — unbind its call eventfd, alter what it wrote — to prove the oracles
    /// fire. Campaigns pass neither.</summary>
    public DemoDiffTarget(
        Flavour flavour,
        Action<VhostBackendRig>? afterVhostStart = null,
        Action<VhostBackendRig>? afterVhostRun = null
    )
    {
        Flavour = flavour;
        Name = FuzzTargetName.Compose("virtio-demo", FuzzTargetName.BackendDiff, flavour);
        _afterVhostStart = afterVhostStart;
        _afterVhostRun = afterVhostRun;
    }

    public Flavour Flavour { get; }

    public string Name { get; }

    public string Description =>
        "seed 000 virtio-demo, QEMU-style vs vhost-demo on the same hostile rings and schedule; oracles differential "
        + "(used ring, response bytes, buff; prefix only after an invalid ring), missed-interrupt, hang";

    public int InputVersion => 1;

    public IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Sim.Spec", "Sim.Devices"];

    public IMutator? StructureMutator { get; } = new ScenarioMutator();

    public IInputMinimizer? Minimizer { get; } = Rings.RingInputMinimizer.Create(OperationsMax);

    public IEnumerable<byte[]> SeedCorpus() => RingSeeds.Backend();

    public FuzzOutcome Execute(ReadOnlySpan<byte> input, FuzzContext context)
    {
        var reader = new FuzzInputReader(input);
        RingInput.Header header = RingInput.ReadHeader(ref reader);
        var simQemu = RingSimulation.Create(EventsMax);
        var simVhost = RingSimulation.Create(VhostBackendRig.EventsMax);
        // A finding trace records both sides, QEMU-style first (its memory is the trace's initial memory).
        context.Attach(simQemu);
        context.Attach(simVhost);
        var device = new VirtioDemoDevice(Flavour);
        var qemu = new QemuBackendRig(simQemu, device, context);
        var vhost = new VhostBackendRig(simVhost, Flavour);
        int size = Math.Min(header.Size, VirtioDemoDevice.QueueSize);
        (ulong desc, ulong avail, ulong used) = RingInput.Place(
            header.Placement,
            size,
            unchecked((ulong)header.Placement * 0x9E37_79B9_7F4A_7C15)
        );
        qemu.Initialize(header.EventIdx, indirect: true, size, desc, avail, used);
        SplitQueue q = device.GetQueue(0);
        // Both sides must have accepted the same ring, or there is nothing to compare.
        if (!q.Ready || device.IsBroken || !device.DriverOk)
            return FuzzOutcome.Rejected;
        if (!vhost.Start(size, desc, avail, used, 0, header.EventIdx, indirect: true))
            return FuzzOutcome.Rejected;
        // QEMU virtio_device_start_ioeventfd_impl sets every host notifier once after assigning it ("process requests
        // that arrived before ioeventfd started"), so the QEMU-style side looks at its ring at the first run even
        // without a kick. With vhost that notifier becomes the kick fd vhost polls (vhost_dev_enable_notifiers), so the
        // worker sees the same pending kick: give the bare vhost rig that kick too.
        vhost.Kick.Signal();
        _afterVhostStart?.Invoke(vhost);
        ResetSides(simQemu, simVhost, context, header.EventIdx, desc, avail, used, size);
        for (int n = 0; n < OperationsMax && !reader.IsExhausted && context.Finding is null; n++)
        {
            context.Step();
            RingInput.Op op = RingInput.ReadOp(ref reader);
            if (op.Code < 8)
            {
                _guestQemu.Apply(op);
                _guestVhost.Apply(op);
                _interruptsQemu.AfterGuest();
                _interruptsVhost.AfterGuest();
                continue;
            }
            if (!ApplyDeviceOp(qemu, vhost, context, op))
                return FuzzOutcome.Completed;
        }
        if (context.Finding is not null)
            return FuzzOutcome.Completed;
        // The guest stops and kicks once; both drain; then the final comparison and the interrupt oracle.
        qemu.Kick();
        vhost.Kick.Signal();
        if (!RunBoth(qemu, vhost, context, 16) || context.Finding is not null)
            return FuzzOutcome.Completed;
        if (!device.IsBroken)
            _interruptsQemu.Final("notify/missed-interrupt-after-drain-qemu");
        if (vhost.Vq.VqErrors == 0 && vhost.Vq.HasBackend)
            _interruptsVhost.Final("notify/missed-interrupt-after-drain-vhost");
        return FuzzOutcome.Completed;
    }

    /// <summary>Points both sides' guest actors, used-ring observers and interrupt oracles at the rings of this
    /// execution, and decides whether the two may be compared at all.</summary>
    private void ResetSides(
        Simulation simQemu,
        Simulation simVhost,
        FuzzContext context,
        bool eventIdx,
        ulong desc,
        ulong avail,
        ulong used,
        int size
    )
    {
        _desc = desc;
        _used = used;
        _size = size;
        _guestQemu.Reset(simQemu.Memory, desc, avail, size);
        _guestVhost.Reset(simVhost.Memory, desc, avail, size);
        _qemu.Reset(simQemu.Memory, used, size);
        _vhost.Reset(simVhost.Memory, used, size);
        // Rings that overlap one another are an invalid layout neither device detects: the device's used-ring
        // writes land in the driver's available ring or descriptor table (VIRTIO 1.2 §2.7: the used ring is the
        // device's, the others the driver's), so what each reads next depends on when it writes used.flags,
        // avail_event and used entries — implementation-defined. Such inputs still run (crash, hang, interrupt
        // oracles) but are not compared.
        _diverged = RingsOverlap(desc, avail, used, size);
        _interruptsQemu.Context = context;
        _interruptsVhost.Context = context;
        _interruptsQemu.Configure(simQemu.Memory, avail, used, size, eventIdx);
        _interruptsVhost.Configure(simVhost.Memory, avail, used, size, eventIdx);
    }

    /// <summary>One device-side op on both sides: 8 kick, 9 run, 14 kick and run, others nothing; false when the
    /// execution must stop.</summary>
    private bool ApplyDeviceOp(QemuBackendRig qemu, VhostBackendRig vhost, FuzzContext context, in RingInput.Op op)
    {
        switch (op.Code)
        {
            case 8:
                qemu.Kick();
                vhost.Kick.Signal();
                break;
            case 9:
                return RunBoth(qemu, vhost, context, 1 + (op.Index % 8));
            case 14:
                qemu.Kick();
                vhost.Kick.Signal();
                return RunBoth(qemu, vhost, context, 1);
            default:
                break;
        }
        return true;
    }

    /// <summary>Whether any two of the descriptor table, available ring and used ring of a queue of
    /// <paramref name="size"/> overlap (VIRTIO 1.2 §2.7: 16, 6 + 2·size and 6 + 8·size bytes).</summary>
    private static bool RingsOverlap(ulong desc, ulong avail, ulong used, int size)
    {
        ulong descBytes = 16UL * (ulong)size;
        ulong availBytes = 6 + (2UL * (ulong)size);
        ulong usedBytes = 6 + (8UL * (ulong)size);
        return Overlap(desc, descBytes, avail, availBytes)
            || Overlap(desc, descBytes, used, usedBytes)
            || Overlap(avail, availBytes, used, usedBytes);
    }

    private bool RunBoth(QemuBackendRig qemu, VhostBackendRig vhost, FuzzContext context, int windows)
    {
        Simulation simQemu = qemu.Simulation;
        StopReason reason = simQemu.Loop.Run(simQemu.Now + (windows * RunWindowNs));
        if (reason == StopReason.EventLimit)
        {
            context.ReportHang(
                "hang/event-budget",
                $"the QEMU-style side used its {EventsMax} events without the guest acting"
            );
            return false;
        }
        _interruptsQemu.AfterDevice(qemu.TakeQueueInterrupt());
        long calls = vhost.Call.Signals;
        VhostBackendRig.RunEnd end = vhost.Run(context, windows);
        if (end == VhostBackendRig.RunEnd.Hang)
            return false;
        _afterVhostRun?.Invoke(vhost);
        _interruptsVhost.AfterDevice(vhost.Call.Signals != calls);
        bool invalid = end == VhostBackendRig.RunEnd.Busy || qemu.Device.IsBroken || vhost.Vq.VqErrors > 0;
        Compare(qemu, vhost, context, invalid);
        return end == VhostBackendRig.RunEnd.Ran;
    }

    /// <summary>Oracle 7: what the guest sees must match, up to the invalid-ring rule (see the type's doc).</summary>
    private void Compare(QemuBackendRig qemu, VhostBackendRig vhost, FuzzContext context, bool invalid)
    {
        if (_diverged)
            return;
        bool okQemu = _qemu.Collect();
        bool okVhost = _vhost.Collect();
        if (invalid || !okQemu || !okVhost)
        {
            // Only what both completed before the divergence point.
            _diverged = true;
            int common = Math.Min(_qemu.Count, _vhost.Count);
            for (int i = 0; i < common; i++)
            {
                if (_qemu.Log[i] == _vhost.Log[i])
                    continue;
                Report(
                    context,
                    "differential/used-element",
                    $"used element #{i}: QEMU-style (id {_qemu.Log[i] >> 32}, len {(uint)_qemu.Log[i]}) vs vhost (id "
                        + $"{_vhost.Log[i] >> 32}, len {(uint)_vhost.Log[i]}), before either saw an invalid ring"
                );
                return;
            }
            return;
        }
        if (_qemu.UsedIdx != _vhost.UsedIdx)
        {
            Report(
                context,
                "differential/used-idx",
                $"used.idx {_qemu.UsedIdx} (QEMU-style) vs {_vhost.UsedIdx} (vhost) after the same guest moves and run "
                    + "time, neither device broken"
            );
            return;
        }
        for (int i = 0; i < _qemu.Count; i++)
        {
            if (_qemu.Log[i] == _vhost.Log[i])
                continue;
            Report(
                context,
                "differential/used-element",
                $"used element #{i}: QEMU-style (id {_qemu.Log[i] >> 32}, len {(uint)_qemu.Log[i]}) vs vhost (id "
                    + $"{_vhost.Log[i] >> 32}, len {(uint)_vhost.Log[i]})"
            );
            return;
        }
        var device = (VirtioDemoDevice)qemu.Device;
        if (device.Buff != vhost.Demo.Buff)
        {
            Report(
                context,
                "differential/buff",
                $"device state buff 0x{device.Buff:x} (QEMU-style) vs 0x{vhost.Demo.Buff:x} (vhost)"
            );
            return;
        }
        if (_qemu.FirstMemoryDifference(_vhost) is { } at)
        {
            Report(
                context,
                "differential/guest-memory",
                $"guest memory differs at 0x{at:x} (response bytes or ring contents): QEMU-style wrote "
                    + $"0x{_qemu.Byte(at):x2}, vhost 0x{_vhost.Byte(at):x2}"
            );
        }
    }

    private static bool Overlap(ulong a, ulong aLen, ulong b, ulong bLen) => a < b + bLen && b < a + aLen;

    private void Report(FuzzContext context, string site, string message)
    {
        // Checked only on the report path (rare): the layout may make the divergence legitimate after all.
        if (SuppressionWordsInDriverData(_qemu) || SuppressionWordsInDriverData(_vhost))
        {
            _diverged = true;
            return;
        }
        context.Report("differential", site, message);
    }

    /// <summary>
    /// True when a device-owned suppression word — used.flags or avail_event — lies inside something the driver
    /// offers the device to read: an indirect table of the input format's area, or a buffer of a descriptor in the
    /// descriptor table or those indirect tables. The devices write these words at implementation-defined times
    /// (VIRTIO 1.2 §2.7.7, §2.7.10: QEMU virtqueue_split_pop writes avail_event before walking each chain, Linux vhost
    /// only in vhost_enable_notify when the ring is empty), so what each then reads there differs: an invalid layout
    /// (the used ring is the device's, VIRTIO 1.2 §2.7), like rings that overlap one another. Bounded: the queue's
    /// descriptors plus <see cref="RingInput.IndirectTables"/> × 32 indirect entries.
    /// </summary>
    private bool SuppressionWordsInDriverData(Side side)
    {
        ulong usedFlags = _used;
        ulong availEvent = _used + 4 + (8UL * (ulong)_size);
        ulong indirectBytes = RingInput.IndirectTables * RingInput.IndirectTableStride;
        if (
            Overlap(usedFlags, 2, RingInput.IndirectBase, indirectBytes)
            || Overlap(availEvent, 2, RingInput.IndirectBase, indirectBytes)
        )
            return true;
        for (int i = 0; i < _size; i++)
        {
            if (side.DescriptorCovers(_desc + (16UL * (ulong)i), usedFlags, availEvent))
                return true;
        }
        for (int i = 0; i < RingInput.IndirectTables * 32; i++)
        {
            if (side.DescriptorCovers(RingInput.IndirectBase + (16UL * (ulong)i), usedFlags, availEvent))
                return true;
        }
        return false;
    }

    /// <summary>One side's guest-visible history: the used elements in completion order and its memory.</summary>
    private sealed class Side
    {
        public readonly ulong[] Log = new ulong[UsedLogMax];
        private GuestMemory? _memory;
        private ulong _used;
        private int _size;
        private ushort _seen;

        public int Count { get; private set; }

        public ushort UsedIdx { get; private set; }

        public void Reset(GuestMemory memory, ulong used, int size)
        {
            _memory = memory;
            _used = used;
            _size = size;
            _seen = 0;
            Count = 0;
            UsedIdx = 0;
        }

        /// <summary>Appends the elements added since the last call; false when they cannot be told apart (more than a
        /// ring's worth at once, a used.idx that went back, an unreadable ring, or a full log).</summary>
        public bool Collect()
        {
            GuestMemory memory = _memory!;
            if (!memory.TryGetSpan(new GuestAddress(_used + 2), 2, out Span<byte> raw))
                return false;
            UsedIdx = BinaryPrimitives.ReadUInt16LittleEndian(raw);
            int added = Narrow.ToUInt16Wrapping(UsedIdx - _seen);
            if (added > _size || Count + added > UsedLogMax)
                return false;
            for (int i = 0; i < added; i++)
            {
                int slot = unchecked((ushort)(_seen + i)) & (_size - 1);
                if (!memory.TryGetSpan(new GuestAddress(_used + 4 + (8UL * (ulong)slot)), 8, out Span<byte> e))
                    return false;
                Log[Count++] =
                    ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(e) << 32)
                    | BinaryPrimitives.ReadUInt32LittleEndian(e[4..]);
            }
            _seen = UsedIdx;
            return true;
        }

        /// <summary>True when the descriptor at <paramref name="at"/> describes a buffer that overlaps the 2-byte word
        /// at <paramref name="a"/> or at <paramref name="b"/> (computed without overflow).</summary>
        public bool DescriptorCovers(ulong at, ulong a, ulong b)
        {
            if (!_memory!.TryGetSpan(new GuestAddress(at), 16, out Span<byte> d))
                return false;
            ulong addr = BinaryPrimitives.ReadUInt64LittleEndian(d);
            ulong len = BinaryPrimitives.ReadUInt32LittleEndian(d[8..]);
            return Inside(a) || Inside(b);

            bool Inside(ulong word) => len != 0 && addr < word + 2 && (addr >= word || word - addr < len);
        }

        public byte Byte(ulong at) => _memory!.TryGetSpan(new GuestAddress(at), 1, out Span<byte> b) ? b[0] : (byte)0;

        /// <summary>The first guest address where the two memories differ, skipping used.flags and
        /// avail_event.</summary>
        public ulong? FirstMemoryDifference(Side other)
        {
            ulong availEvent = _used + 4 + (8UL * (ulong)_size);
            for (ulong region = 0; region < RingInput.MemorySize; region += RingInput.RegionSize)
            {
                if (!_memory!.TryGetSpan(new GuestAddress(region), RingInput.RegionSize, out Span<byte> a))
                    continue;
                if (!other._memory!.TryGetSpan(new GuestAddress(region), RingInput.RegionSize, out Span<byte> b))
                    continue;
                int start = 0;
                while (start < a.Length)
                {
                    int d = a[start..].CommonPrefixLength(b[start..]);
                    if (d == a.Length - start)
                        break;
                    ulong at = region + (ulong)(start + d);
                    if ((at < _used || at >= _used + 2) && (at < availEvent || at >= availEvent + 2))
                        return at;
                    start += d + 1;
                }
            }
            return null;
        }
    }
}
