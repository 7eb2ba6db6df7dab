using System.Buffers.Binary;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Engine.Trace;

namespace Sim.Machine.Kvm;

// Scoped inside the namespace: from Sim.Machine.*, a file-level using would lose to the sibling namespace Simulation.
using Sim.Machine.Simulation;

/// <summary>
/// The guest/host boundary as KVM presents it: the MMIO and PIO buses of userspace device models,
/// ioeventfds and irqfds (KVM_IOEVENTFD, KVM_IRQFD), the in-kernel irqchip, one vCPU, the latency
/// model and the run's counters. Owned by a <see cref="Simulation"/>.
/// <para>
/// A guest write first meets the ioeventfds (KVM's in-kernel io bus is searched before exiting);
/// one that matches signals its eventfd without leaving KVM. Every other access exits to userspace:
/// it is traced, counted, costs <see cref="LatencyModel.UserspaceExitNs"/> and goes to the bus
/// device synchronously (QEMU runs MMIO handlers on the vCPU thread), attributed to
/// <see cref="MemoryActor.Device"/>.
/// </para>
/// </summary>
public sealed class KvmModel
{
    /// <summary>Most ioeventfds per bus (KVM_IO_BUS_MAX_DEVS is 1000; ENOSPC beyond).</summary>
    public const int IoEventFdsMax = 1000;

    /// <summary>Most irqfds.</summary>
    public const int IrqFdsMax = 1024;

    private readonly List<IoEventFdBinding> _ioEventFds = new();
    private readonly List<IrqFdBinding> _irqFds = new();
    private uint _nextIrqFdId;

    internal KvmModel(Simulation simulation, LatencyModel latency)
    {
        Simulation = simulation;
        Latency = latency;
        Mmio = new IoBus(BusKind.Mmio);
        Pio = new IoBus(BusKind.Pio);
        Irqchip = new InterruptController(this);
        Vcpu = new Vcpu(this);
    }

    /// <summary>The simulation this machine runs in (clock, loop, memory, trace).</summary>
    public Simulation Simulation { get; }

    /// <summary>The cost of each boundary crossing.</summary>
    public LatencyModel Latency { get; }

    /// <summary>The run's counters (the simulation's).</summary>
    public RunCounters Counters => Simulation.Counters;

    /// <summary>The MMIO bus (KVM_EXIT_MMIO).</summary>
    public IoBus Mmio { get; }

    /// <summary>The port I/O bus (KVM_EXIT_IO).</summary>
    public IoBus Pio { get; }

    /// <summary>The in-kernel irqchip (KVM_CREATE_IRQCHIP).</summary>
    public InterruptController Irqchip { get; }

    /// <summary>The one vCPU.</summary>
    public Vcpu Vcpu { get; }

    /// <summary>The bus of <paramref name="bus"/>.</summary>
    public IoBus Bus(BusKind bus) => bus == BusKind.Mmio ? Mmio : Pio;

    /// <summary>Told of every ioeventfd registration that succeeds or is removed, so a real KVM can mirror
    /// it (the recorder registers a real KVM_IOEVENTFD for each). Null in simulated runs.</summary>
    public IIoEventFdMirror? IoEventFdMirror { get; set; }

    /// <summary>Guest console characters (1-byte OUTs to the debug port) since the last newline.</summary>
    private readonly System.Text.StringBuilder _consoleLine = new();

    /// <summary>Longest console line kept; longer ones are cut (a guest that never prints a newline).</summary>
    public const int ConsoleLineMax = 4096;

    /// <summary>How many ioeventfds are registered (KVM_IOEVENTFD).</summary>
    public int IoEventFdCount => _ioEventFds.Count;

    /// <summary>How many irqfds are registered (KVM_IRQFD).</summary>
    public int IrqFdCount => _irqFds.Count;

    /// <summary>KVM_IOEVENTFD assign. <paramref name="length"/> 0 (any write to the exact address), 1,
    /// 2, 4 or 8; <paramref name="dataMatch"/> null is a wildcard, otherwise only writes whose value
    /// (zero-extended to 64 bits) equals it match. Errors as KVM's: EINVAL for a bad length, a range
    /// past 2^64 (or past the 16-bit port space), or DATAMATCH with length 0; EEXIST on collision;
    /// ENOSPC when full.</summary>
    public bool TryRegisterIoEventFd(
        BusKind bus,
        ulong address,
        int length,
        ulong? dataMatch,
        EventFd fd,
        out KvmError error
    )
    {
        ArgumentNullException.ThrowIfNull(fd);
        if (length is not (0 or 1 or 2 or 4 or 8))
        {
            error = KvmError.InvalidArgument;
            return false;
        }
        if (length == 0 && dataMatch.HasValue)
        {
            error = KvmError.InvalidArgument;
            return false;
        }
        if (address > ulong.MaxValue - Narrow.AsUInt64Bits(length))
        {
            error = KvmError.InvalidArgument;
            return false;
        }
        if (bus == BusKind.Pio && address + Narrow.AsUInt64Bits(length) > IoBus.PioSpaceSize)
        {
            error = KvmError.InvalidArgument;
            return false;
        }
        var binding = new IoEventFdBinding(bus, address, length, !dataMatch.HasValue, dataMatch ?? 0, fd);
        int onBus = 0;
        foreach (IoEventFdBinding existing in _ioEventFds)
        {
            if (existing.CollidesWith(binding))
            {
                error = KvmError.AlreadyExists;
                return false;
            }
            if (existing.Bus == bus)
                onBus++;
        }
        if (onBus >= IoEventFdsMax)
        {
            error = KvmError.NoSpace;
            return false;
        }
        // Keep the list sorted by (bus, address), registration order among equals: lookups scan a
        // short run of equal keys, and matching never depends on anything but registration order.
        int index = UpperBound(bus, address);
        _ioEventFds.Insert(index, binding);
        IoEventFdMirror?.OnRegistered(bus, address, length, dataMatch, fd);
        error = KvmError.None;
        return true;
    }

    /// <summary>KVM_IOEVENTFD deassign: removes the registration with exactly these bus, address,
    /// length, datamatch and eventfd. False (ENOENT) when none matches.</summary>
    public bool UnregisterIoEventFd(BusKind bus, ulong address, int length, ulong? dataMatch, EventFd fd)
    {
        for (int i = 0; i < _ioEventFds.Count; i++)
        {
            IoEventFdBinding b = _ioEventFds[i];
            if (
                b.Bus == bus
                && b.Address == address
                && b.Length == length
                && ReferenceEquals(b.Fd, fd)
                && b.Wildcard == !dataMatch.HasValue
                && (b.Wildcard || b.DataMatch == dataMatch!.Value)
            )
            {
                _ioEventFds.RemoveAt(i);
                IoEventFdMirror?.OnUnregistered(bus, address, length, dataMatch, fd);
                return true;
            }
        }
        return false;
    }

    /// <summary>KVM_IRQFD assign: signalling <paramref name="fd"/> injects <paramref name="gsi"/>
    /// after <see cref="LatencyModel.IrqFdInjectNs"/>. With <paramref name="resample"/> the GSI becomes
    /// level-triggered and stays asserted until the guest's EOI, which lowers it and signals the
    /// resample fd. EINVAL for a GSI out of range, EBUSY when the eventfd already backs an irqfd,
    /// ENOSPC when full. A signal already pending on the fd is injected at once (as kvm_irqfd_assign
    /// polls the eventfd).</summary>
    public bool TryRegisterIrqFd(EventFd fd, uint gsi, EventFd? resample, out KvmError error)
    {
        ArgumentNullException.ThrowIfNull(fd);
        if (!InterruptController.IsValidGsi(gsi))
        {
            error = KvmError.InvalidArgument;
            return false;
        }
        foreach (IrqFdBinding existing in _irqFds)
        {
            if (ReferenceEquals(existing.Fd, fd))
            {
                error = KvmError.Busy;
                return false;
            }
        }
        if (_irqFds.Count >= IrqFdsMax)
        {
            error = KvmError.NoSpace;
            return false;
        }
        var binding = new IrqFdBinding(this, _nextIrqFdId++, fd, gsi, resample);
        _irqFds.Add(binding);
        Irqchip.External?.IrqFdRegistered(binding.Id, gsi, resample is not null);
        if (resample is not null)
            Irqchip.SetLevelTriggered(gsi, true);
        fd.AddListener(binding);
        if (fd.IsReadable)
            binding.OnSignalled(fd);
        error = KvmError.None;
        return true;
    }

    /// <summary>The registration number (an IrqInject's Source - 1) and GSI of the irqfd <paramref name="fd"/>
    /// backs; false when it backs none.</summary>
    public bool TryFindIrqFd(EventFd fd, out uint id, out uint gsi)
    {
        foreach (IrqFdBinding b in _irqFds)
        {
            if (!ReferenceEquals(b.Fd, fd))
                continue;
            (id, gsi) = (b.Id, b.Gsi);
            return true;
        }
        (id, gsi) = (0, 0);
        return false;
    }

    /// <summary>KVM_IRQFD deassign (KVM_IRQFD_FLAG_DEASSIGN) by eventfd and GSI. A resampling irqfd
    /// lowers its line on the way out. False when none matches.</summary>
    public bool UnregisterIrqFd(EventFd fd, uint gsi)
    {
        for (int i = 0; i < _irqFds.Count; i++)
        {
            IrqFdBinding b = _irqFds[i];
            if (!ReferenceEquals(b.Fd, fd) || b.Gsi != gsi)
                continue;
            b.Active = false;
            fd.RemoveListener(b);
            _irqFds.RemoveAt(i);
            Irqchip.External?.IrqFdUnregistered(b.Id);
            if (b.Resample is not null)
                Irqchip.Lower(gsi);
            return true;
        }
        return false;
    }

    /// <summary>Starts the guest program on the vCPU; with <see cref="SimulationOptions.ExternalVcpu"/> a real
    /// vCPU runs the guest instead, and the program is not started.</summary>
    public void Start(GuestProgram program, long delay = 0)
    {
        if (Simulation.Options.ExternalVcpu)
            return;
        Vcpu.Start(program, delay);
    }

    /// <summary>A read exit of an externally driven vCPU (KVM_EXIT_MMIO / KVM_EXIT_IO in): the same dispatch,
    /// counters and trace event as a simulated guest's read. Returns the value for the vCPU.</summary>
    public ulong ExitRead(BusKind bus, ulong address, int size) => GuestRead(null, bus, address, size);

    /// <summary>A write exit of an externally driven vCPU: the same dispatch, counters and trace events as a
    /// simulated guest's write (a write that matches an ioeventfd signals it, as KVM would have).</summary>
    public void ExitWrite(BusKind bus, ulong address, int size, ulong value) =>
        GuestWrite(null, bus, address, size, value);

    /// <summary>A real ioeventfd fired (KVM absorbed a guest write matching the registration (bus, address,
    /// size, value)): emits the IoEventFd event and signals the registered eventfd once, however many writes
    /// the real eventfd's counter coalesced (one wake-up, as one read of the counter). False, changing
    /// nothing, when no registration matches (the guest's driver removed it meanwhile).</summary>
    public bool SignalIoEventFd(BusKind bus, ulong address, int size, ulong value)
    {
        CheckSize(size);
        if (!TryMatchIoEventFd(bus, address, size, value, out EventFd? fd))
            return false;
        Span<byte> data = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(data, value);
        Counters.IoEventFdSignals++;
        Simulation.Emit(TraceEventKind.IoEventFd, fd.Id, address, Narrow.AsUInt64Bits(size), data[..size]);
        using (Simulation.Memory.As(MemoryActor.Device))
            fd.Signal();
        return true;
    }

    internal void OnInterruptDeliverable() => Vcpu.OnInterruptDeliverable();

    /// <summary>irqfd_resampler_ack: for a GSI with resampling irqfds, lower the line once and signal
    /// every resample fd.</summary>
    internal void OnEoi(uint gsi)
    {
        bool lowered = false;
        for (int i = 0; i < _irqFds.Count; i++)
        {
            IrqFdBinding b = _irqFds[i];
            if (b.Gsi != gsi || b.Resample is null)
                continue;
            if (!lowered)
            {
                Irqchip.Lower(gsi);
                lowered = true;
            }
            using (Simulation.Memory.As(MemoryActor.Device))
                b.Resample.Signal();
        }
    }

    internal ulong GuestRead(GuestContext? context, BusKind bus, ulong address, int size)
    {
        CheckSize(size);
        Span<byte> data = stackalloc byte[8];
        data = data[..size];
        if (bus == BusKind.Mmio)
            Counters.MmioReadExits++;
        else
            Counters.PioInExits++;
        if (context is not null)
            context.Cost = checked(context.Cost + Latency.UserspaceExitNs);
        bool claimed;
        using (Simulation.Memory.As(MemoryActor.Device))
            claimed = Bus(bus).Read(address, data);
        if (!claimed)
            Counters.UnmappedAccesses++;
        Simulation.Emit(
            bus == BusKind.Mmio ? TraceEventKind.MmioRead : TraceEventKind.PioIn,
            0,
            address,
            Narrow.AsUInt64Bits(size),
            data
        );
        Span<byte> wide = stackalloc byte[8];
        wide.Clear();
        data.CopyTo(wide);
        return BinaryPrimitives.ReadUInt64LittleEndian(wide);
    }

    internal void GuestWrite(GuestContext? context, BusKind bus, ulong address, int size, ulong value)
    {
        CheckSize(size);
        if (size < 8 && (value >> (size * 8)) != 0)
            throw new ArgumentOutOfRangeException(nameof(value), value, $"value does not fit in {size} bytes");
        Span<byte> data = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(data, value);
        data = data[..size];
        if (TryMatchIoEventFd(bus, address, size, value, out EventFd? fd))
        {
            Counters.IoEventFdSignals++;
            if (context is not null)
                context.Cost = checked(context.Cost + Latency.IoEventFdNs);
            Simulation.Emit(TraceEventKind.IoEventFd, fd.Id, address, Narrow.AsUInt64Bits(size), data);
            using (Simulation.Memory.As(MemoryActor.Device))
                fd.Signal();
            return;
        }
        if (context is not null)
            context.Cost = checked(context.Cost + Latency.UserspaceExitNs);
        if (bus == BusKind.Mmio)
        {
            Counters.MmioWriteExits++;
            Simulation.Emit(TraceEventKind.MmioWrite, 0, address, Narrow.AsUInt64Bits(size), data);
        }
        else if (address == GuestContext.DebugPort)
        {
            Counters.PioOutExits++;
            // Source 0: a 4-byte debug value (DebugWrite); otherwise the access size: a 1-byte OUT is a console
            // character of a real guest (docs/recording.md §2), collected into console lines.
            uint width = size == 4 ? 0u : Narrow.AsUInt32Bits(size);
            Simulation.Emit(TraceEventKind.DebugPort, width, address, value, default);
            if (size == 4)
                Simulation.RecordDebugValue(value);
            else if (size == 1)
                ConsoleByte(Narrow.LowByte(value));
            return;
        }
        else
        {
            Counters.PioOutExits++;
            Simulation.Emit(TraceEventKind.PioOut, 0, address, Narrow.AsUInt64Bits(size), data);
        }
        bool claimed;
        using (Simulation.Memory.As(MemoryActor.Device))
            claimed = Bus(bus).Write(address, data);
        if (!claimed)
            Counters.UnmappedAccesses++;
    }

    private void ConsoleByte(byte b)
    {
        if (b == (byte)'\n')
        {
            Simulation.Print(_consoleLine.ToString());
            _consoleLine.Clear();
        }
        else if (b != (byte)'\r' && _consoleLine.Length < ConsoleLineMax)
        {
            _consoleLine.Append(b is >= 0x20 and < 0x7f ? (char)b : '?');
        }
    }

    /// <summary>Ends a console line the guest left open (at the end of a run).</summary>
    public void FlushConsole()
    {
        if (_consoleLine.Length == 0)
            return;
        Simulation.Print(_consoleLine.ToString());
        _consoleLine.Clear();
    }

    private bool TryMatchIoEventFd(
        BusKind bus,
        ulong address,
        int size,
        ulong value,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out EventFd? fd
    )
    {
        List<IoEventFdBinding> list = _ioEventFds;
        for (int i = LowerBound(bus, address); i < list.Count; i++)
        {
            IoEventFdBinding b = list[i];
            if (b.Bus != bus || b.Address != address)
                break;
            if (b.Matches(address, size, value))
            {
                fd = b.Fd;
                return true;
            }
        }
        fd = null;
        return false;
    }

    private static int Compare(IoEventFdBinding b, BusKind bus, ulong address) =>
        b.Bus != bus ? b.Bus.CompareTo(bus) : b.Address.CompareTo(address);

    /// <summary>First index whose key is &gt;= (bus, address).</summary>
    private int LowerBound(BusKind bus, ulong address)
    {
        int lo = 0,
            hi = _ioEventFds.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (Compare(_ioEventFds[mid], bus, address) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }

    /// <summary>First index whose key is &gt; (bus, address).</summary>
    private int UpperBound(BusKind bus, ulong address)
    {
        int lo = 0,
            hi = _ioEventFds.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (Compare(_ioEventFds[mid], bus, address) <= 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }

    private static void CheckSize(int size)
    {
        if (size is not (1 or 2 or 4 or 8))
            throw new ArgumentOutOfRangeException(nameof(size), size, "access size must be 1, 2, 4 or 8 bytes");
    }
}
