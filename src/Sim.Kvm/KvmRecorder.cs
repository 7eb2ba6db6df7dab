using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Sim.Kvm.Native;
using Sim.Machine.Kvm;
using Sim.Machine.Scenarios;
using Sim.Machine.Simulation;
using Sim.Scenarios.Recording;

namespace Sim.Kvm;

/// <summary>
/// Records a real guest on a real KVM (docs/recording.md): builds the scenario's machine
/// (<see cref="ExternalMachine"/>), a VM with one 4 MiB dirty-logged slot over mmap'ed RAM, the in-kernel irqchip
/// and one vCPU in 32-bit protected mode at the image's entry, then runs two threads: the vCPU thread (KVM_RUN;
/// each exit is served by the machine's bus dispatch) and the host thread (epoll on the mirrored ioeventfds and a
/// timerfd at the machine's next deadline: kicks, vhost workers and device timers run there while the guest runs
/// on). With the vhost backend a third thread, the vhost worker (Linux vhost_worker), waits in its own epoll on the
/// kick eventfds (the real ioeventfds of the queue notify addresses) and runs the backend when one fires; its call
/// eventfd reaches the guest through a real KVM_IRQFD (<see cref="KvmIrqForwarder"/>). One lock serialises every
/// touch of the machine, as QEMU's BQL does. Before each device activation the
/// dirty log brings the machine's memory up to date (GuestWrite events); device writes are copied to the real
/// RAM; the trace's clock is host monotonic time since the first KVM_RUN. The run ends at the guest's 4-byte OUT
/// to port 0xF4.
/// </summary>
public sealed class KvmRecorder : IDisposable
{
    /// <summary>Guest RAM mapped for a recording: the simulated scenarios' default size, so the layouts
    /// match.</summary>
    public const ulong MemorySize = SimulationOptions.MemorySizeDefault;

    /// <summary>The debug-exit port: the guest's OUT to it ends the recording.</summary>
    public const ushort ExitPort = 0xF4;

    /// <summary>Repeat count served of one string I/O exit (REP OUTS/INS).</summary>
    public const uint IoRepeatMax = 4096;

    private const uint Slot = 0;

    private const ulong StopToken = ulong.MaxValue - 1;

    private const ulong KernelCallToken = ulong.MaxValue - 2;

    private readonly Lock _gate = new();
    private readonly RecordRequest _request;
    private readonly KvmSystem _kvm;
    private readonly KvmVm _vm;
    private readonly GuestRam _ram;
    private readonly KvmVcpu _vcpu;
    private readonly ExternalMachine _machine;
    private readonly HostPoller _poller;
    private readonly HostPoller? _vhostPoller;
    private readonly HostEventFd _stop;
    private readonly IoEventFdMirror _mirror;
    private readonly KvmIrqForwarder _irq;
    private readonly KernelVhostDataPath? _kernel;
    private readonly DirtyPageDiff _diff = new();
    private readonly ulong[] _dirtyBitmap;
    private long _t0;
    private volatile bool _stopping;
    private Exception? _failure;
    private uint _guestStatus;
    private bool _guestExited;
    private long _exits;
    private long _kicks;
    private bool _abandoned;
    private long _syncTicks;

    private KvmRecorder(KvmSystem kvm, RecordRequest request, ExternalMachine machine)
    {
        _kvm = kvm;
        _request = request;
        _machine = machine;
        _ram = new GuestRam(MemorySize);
        _vm = kvm.CreateVm();
        _vm.TrySetTssAddress(0xFFFB_D000);
        _vm.CreateIrqchip();
        _vm.SetMemoryRegion(Slot, 0, _ram, logDirty: true);
        _vcpu = _vm.CreateVcpu(0);
        _poller = new HostPoller();
        _stop = new HostEventFd();
        _poller.Add(_stop, StopToken);
        if (request.Backend == "vhost")
        {
            // The vhost worker polls the kick eventfds: vhost-demo's only ioeventfds are its queue notifies, which
            // the backend polls once DRIVER_OK started it (vhost_poll_start on the kick file).
            _vhostPoller = new HostPoller();
            _vhostPoller.Add(_stop, StopToken);
        }
        _mirror = new IoEventFdMirror(_vm, _vhostPoller ?? _poller);
        _irq = new KvmIrqForwarder(_vm);
        _dirtyBitmap = new ulong[MemorySize / GuestMemory.PageSize / 64];
        machine.Kvm.IoEventFdMirror = _mirror;
        machine.Kvm.Irqchip.External = _irq;
        var copier = new DeviceWriteCopier(_ram);
        machine.Simulation.AddMemoryObserver(copier);
        if (request.Backend == KvmTraceReplay.KernelVhostBackend)
        {
            KernelVhostDataPath.DirectWiring? direct = request.KernelVhostWiring switch
            {
                KernelVhostWiring.Relay => null,
                KernelVhostWiring.Direct => new KernelVhostDataPath.DirectWiring(_mirror, _irq),
                _ => throw new ArgumentException($"unknown kernel-vhost wiring '{request.KernelVhostWiring}'"),
            };
            _kernel = new KernelVhostDataPath(
                request.KernelVhostDevice,
                _ram,
                machine,
                copier,
                _poller,
                KernelCallToken,
                direct
            );
        }
    }

    /// <summary>The kernel-vhost path's counters (null for the other backends).</summary>
    private string KernelReport() =>
        _kernel is null
            ? ""
            : $"kernel-vhost: worker_cpu_ms={WorkerCpuMs()}"
                + $" wiring={_kernel.Wiring} features=0x{_kernel.KernelFeatures:x} started={_kernel.Started}"
                + $" kicks={_kernel.Kicks} calls={_kernel.Calls} device_stores={_kernel.DeviceStores}"
                + (
                    _kernel.Wiring != KernelVhostWiring.Direct
                        ? ""
                        : $" guest_kicks={_kernel.GuestKicks} flushes={_kernel.Flushes}"
                            + $" interrupts={_kernel.Interrupts} "
                            + $"observed_irqfd_injections={_irq.IrqFdsObservedInjections}"
                );

    /// <summary>The kernel vhost worker thread's CPU so far (not part of this process's CPU time), or "?".</summary>
    private static string WorkerCpuMs() =>
        KernelVhost.VhostWorkerCpu.Nanoseconds() is long ns
            ? (ns / 1e6).ToString("F2", System.Globalization.CultureInfo.InvariantCulture)
            : "?";

    /// <summary>Records <paramref name="request"/> into <paramref name="output"/>. Throws
    /// <see cref="KvmException"/> when KVM fails and <see cref="ArgumentException"/> for a bad scenario, options or
    /// image.</summary>
    public static RecordResult Record(KvmSystem kvm, RecordRequest request, Stream output)
    {
        ArgumentNullException.ThrowIfNull(kvm);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(output);
        if (request.Image.Length == 0 || (ulong)request.Image.Length > MemorySize - ExternalMachine.ImageAddress)
            throw new ArgumentException(
                $"guest image of {request.Image.Length} bytes does not fit between "
                    + $"0x{ExternalMachine.ImageAddress:x} and the end of the {MemorySize >> 20} MiB of RAM"
            );
        var scenarioOptions = new ScenarioOptions(0, request.Options);
        byte[] parameters = GuestParams.Build(request.Scenario, scenarioOptions);
        if (request.GuestArgs is { } args)
        {
            if (args.Count > GuestParams.ArgCount)
                throw new ArgumentException($"at most {GuestParams.ArgCount} guest arguments");
            for (int i = 0; i < args.Count; i++)
                BinaryPrimitives.WriteUInt32LittleEndian(parameters.AsSpan(GuestParams.ArgOffset + (4 * i)), args[i]);
        }
        if (
            !ExternalMachine.TryCreate(
                request.Scenario,
                request.Options,
                out ExternalMachine? machine,
                out string error
            )
        )
            throw new ArgumentException(error);
        using var recorder = new KvmRecorder(kvm, request, machine!);
        return recorder.Run(output, parameters);
    }

    private RecordResult Run(Stream output, byte[] parameters)
    {
        // The image and the parameter block, in both copies of guest memory: the trace's initial memory.
        _machine.Load(ExternalMachine.ImageAddress, _request.Image);
        _machine.Load(ExternalMachine.ParamsAddress, parameters);
        _request.Image.CopyTo(_ram.Slice(ExternalMachine.ImageAddress, _request.Image.Length));
        parameters.CopyTo(_ram.Slice(ExternalMachine.ParamsAddress, parameters.Length));
        _vcpu.SetProtectedMode32((uint)ExternalMachine.ImageAddress);
        _vm.GetDirtyLog(Slot, _dirtyBitmap); // start the log clean

        Simulation sim = _machine.Simulation;
        // Recorder off (RecordRequest.Trace false): the same machine and threads, no trace sink.
        using TraceWriter? writer = _request.Trace
            ? new TraceWriter(output, Header(), sim.Memory, leaveOpen: true)
            : null;
        if (writer is not null)
            sim.AddSink(writer);

        var cpu = Process.GetCurrentProcess();
        TimeSpan cpuStart = cpu.TotalProcessorTime;
        _t0 = LibC.MonotonicNs();
        bool ended = RunThreads();
        if (!ended)
        {
            // The vCPU thread is still inside KVM_RUN: its VM, kvm_run page and RAM must outlive it (the process
            // ends soon after this error), so nothing is unmapped or closed.
            _abandoned = true;
        }
        if (!ended)
            throw new KvmException(
                $"the guest did not reach its exit port (OUT 0x{ExitPort:x}) within "
                    + $"{_request.Timeout.TotalSeconds:F0} s (rip 0x{SafeRip():x}); no trace written"
            );
        if (_failure is not null)
            throw _failure is KvmException k ? k : new KvmException("recording failed: " + _failure.Message, _failure);
        long end;
        lock (_gate)
        {
            end = Clock();
            SyncAll(end, guestStopped: true);
            _machine.Finish(end);
        }
        cpu.Refresh();
        long cpuNs = (long)((cpu.TotalProcessorTime - cpuStart).TotalMilliseconds * 1e6);
        writer?.Complete(sim.Memory.ContentHash(), sim.Loop.Now);
        return Result(writer, sim, end, cpuNs);
    }

    /// <summary>Runs the host poller, the vhost worker (if any) and the vCPU until the guest exits or the timeout,
    /// then stops the pollers; true when the guest ended in time.</summary>
    private bool RunThreads()
    {
        var host = new Thread(() => PollLoop(_poller, timers: true)) { IsBackground = true, Name = "virtsim-host" };
        var vhost = _vhostPoller is null
            ? null
            : new Thread(() => PollLoop(_vhostPoller, timers: false)) { IsBackground = true, Name = "virtsim-vhost" };
        var vcpu = new Thread(VcpuLoop) { IsBackground = true, Name = "virtsim-vcpu0" };
        host.Start();
        vhost?.Start();
        vcpu.Start();
        bool ended = vcpu.Join(_request.Timeout);
        _stopping = true;
        _stop.Signal();
        host.Join();
        vhost?.Join();
        return ended;
    }

    private RecordResult Result(TraceWriter? writer, Simulation sim, long end, long cpuNs) =>
        new()
        {
            GuestStatus = _guestStatus,
            Exits = _exits,
            Kicks = _kicks + (_kernel?.GuestKicks ?? 0),
            Interrupts = _irq.Sent + _irq.IrqFdsObservedInjections,
            IrqFdSignals = _irq.IrqFdSignals,
            IrqFdsAssigned = _irq.IrqFdsAssigned,
            GuestStores = _diff.StoresEmitted,
            PagesCompared = _diff.PagesCompared,
            IoEventFdsRefused = _mirror.Refused,
            Events = writer?.EventCount ?? Narrow.AsUInt64Bits(sim.EventCount),
            TraceBytes = writer?.BytesWritten ?? 0,
            Traced = writer is not null,
            MemorySyncNs = (long)(_syncTicks * (1e9 / Stopwatch.Frequency)),
            GuestNs = end,
            CpuNs = cpuNs,
            Report = _kernel is null ? _machine.Run.ReportLines() : [.. _machine.Run.ReportLines(), KernelReport()],
        };

    private ulong SafeRip()
    {
        try
        {
            return _vcpu.InstructionPointer();
        }
        catch (KvmException)
        {
            return 0;
        }
    }

    private TraceHeader Header()
    {
        var header = new TraceHeader
        {
            VirtsimVersion = _request.VirtsimVersion,
            GitCommit = _request.GitCommit,
            Seed = 0,
            Scenario = _request.Scenario,
            Origin = TraceOrigin.Kvm,
            Host = HostInfo.Describe(_kvm.ApiVersion),
            MemoryLayout = _machine.Simulation.Memory.Layout,
            CheckpointIntervalEvents = _machine.Simulation.Options.CheckpointInterval,
        };
        foreach (var (k, v) in _request.Options)
            header.Options[k] = v;
        header.Options["guest"] = _request.GuestName;
        header.Options["guest_sha256"] = Convert.ToHexStringLower(SHA256.HashData(_request.Image));
        header.Options["backend"] = _request.Backend;
        if (_kernel?.Wiring == KernelVhostWiring.Direct)
        {
            header.Options["kernel_vhost_wiring"] = KernelVhostWiring.Direct;
            // Honest about the coarser timing: the kernel's kicks, writes and interrupts carry the time of the look
            // (a vCPU exit) that found them; each happened after the previous look.
            header.Options["kernel_vhost_timing"] = "at-next-exit";
        }
        return header;
    }

    /// <summary>Host nanoseconds since the first KVM_RUN, never behind the machine's clock.</summary>
    private long Clock() => Math.Max(LibC.MonotonicNs() - _t0, _machine.Simulation.Loop.Now);

    /// <summary>KVM_GET_DIRTY_LOG, then the page diff into the machine's memory (GuestWrite events); the bytes
    /// <paramref name="mask"/> gives back to the machine's copy are left out (the direct-wired kernel's).</summary>
    private void SyncGuestMemory(KernelVhostDataPath.PageMask? mask)
    {
        long start = Stopwatch.GetTimestamp();
        _vm.GetDirtyLog(Slot, _dirtyBitmap);
        _diff.Apply(_dirtyBitmap, _machine, (page, destination) =>
        {
            _ram.Slice(page * GuestMemory.PageSize, GuestMemory.PageSize).CopyTo(destination);
            mask?.Invoke(page, destination);
        });
        _syncTicks += Stopwatch.GetTimestamp() - start;
    }

    /// <summary>Brings the machine's memory up to date: the kernel's writes, then the guest's. With direct wiring
    /// only while the guest is stopped (<paramref name="guestStopped"/>): a running guest may kick the kernel, which
    /// may then write a page while its guest stores are being diffed.</summary>
    private void SyncAll(long now, bool guestStopped)
    {
        if (_kernel is { DirectLive: true })
        {
            if (guestStopped)
                _kernel.Look(now, SyncGuestMemory);
            return;
        }
        _kernel?.SyncDevice();
        SyncGuestMemory(null);
    }

    // ------------------------------------------------------------------ vCPU thread

    private void VcpuLoop()
    {
        try
        {
            while (!_stopping && !_guestExited)
            {
                uint reason = _vcpu.Run();
                switch (reason)
                {
                    case KvmIoctl.ExitIo:
                        ServeIo();
                        break;
                    case KvmIoctl.ExitMmio:
                        ServeMmio();
                        break;
                    case KvmIoctl.ExitIntr:
                        break;
                    case KvmIoctl.ExitHlt:
                        throw new KvmException(
                            $"HLT reached userspace at rip 0x{SafeRip():x} (the in-kernel irqchip should keep it)"
                        );
                    case KvmIoctl.ExitShutdown:
                        throw new KvmException($"the guest shut down (triple fault) at rip 0x{SafeRip():x}");
                    case KvmIoctl.ExitFailEntry:
                        throw new KvmException($"KVM_EXIT_FAIL_ENTRY (hardware reason 0x{_vcpu.ExitDetail:x})");
                    case KvmIoctl.ExitInternalError:
                        throw new KvmException(
                            $"KVM_EXIT_INTERNAL_ERROR (suberror {_vcpu.ExitDetail & 0xFFFF_FFFF}) at rip "
                                + $"0x{SafeRip():x}"
                        );
                    default:
                        throw new KvmException($"unexpected KVM exit reason {reason} at rip 0x{SafeRip():x}");
                }
                if (_exits > _request.ExitsMax)
                    throw new KvmException($"more than {_request.ExitsMax} exits: stopped");
            }
        }
        catch (Exception ex) when (ex is KvmException or ArgumentException or InvalidOperationException)
        {
            _failure = ex;
        }
    }

    private void ServeIo()
    {
        (bool isOut, int size, ushort port, uint count) = _vcpu.IoExit;
        if (size is not (1 or 2 or 4))
            throw new KvmException($"port I/O of {size} bytes at port 0x{port:x}");
        Span<byte> bytes = stackalloc byte[8];
        for (uint i = 0; i < Math.Min(count, IoRepeatMax); i++)
        {
            Span<byte> data = _vcpu.IoData(size, i);
            lock (_gate)
            {
                long now = Activate(guestStopped: true);
                _exits++;
                if (isOut)
                {
                    ulong value = KvmVcpu.ValueOf(data);
                    _machine.Write(now, BusKind.Pio, port, size, value);
                    if (port == ExitPort && size == 4)
                    {
                        _guestStatus = Narrow.LowUInt32(value);
                        _guestExited = true;
                    }
                }
                else
                {
                    ulong value = _machine.Read(now, BusKind.Pio, port, size);
                    BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
                    bytes[..size].CopyTo(data);
                }
                _kernel?.Follow();
                _machine.AdvanceTo(now);
            }
        }
    }

    private void ServeMmio()
    {
        (ulong address, int length, bool isWrite) = _vcpu.MmioExit;
        if (length is not (1 or 2 or 4 or 8))
            throw new KvmException($"MMIO access of {length} bytes at 0x{address:x}");
        Span<byte> data = _vcpu.MmioData;
        lock (_gate)
        {
            long now = Activate(guestStopped: true);
            _exits++;
            if (isWrite)
            {
                _machine.Write(now, BusKind.Mmio, address, length, KvmVcpu.ValueOf(data[..length]));
            }
            else
            {
                ulong value = _machine.Read(now, BusKind.Mmio, address, length);
                BinaryPrimitives.WriteUInt64LittleEndian(data, value);
            }
            _kernel?.Follow();
            _machine.AdvanceTo(now);
        }
    }

    /// <summary>Under the lock: the time of this activation, with the machine's memory brought up to date.</summary>
    private long Activate(bool guestStopped)
    {
        long now = Clock();
        SyncAll(now, guestStopped);
        return now;
    }

    // ------------------------------------------------------------------ host thread and vhost worker thread

    /// <summary>The host thread (<paramref name="timers"/>: it also keeps the timerfd at the machine's next
    /// deadline) or the vhost worker thread: waits on its poller, then under the lock turns each fired ioeventfd
    /// into a kick and runs what is due.</summary>
    private void PollLoop(HostPoller poller, bool timers)
    {
        try
        {
            Span<ulong> tokens = stackalloc ulong[HostPoller.EventsPerWaitMax];
            while (!_stopping)
            {
                if (timers)
                {
                    lock (_gate)
                    {
                        poller.SetDeadline(
                            _machine.Simulation.Loop.TryPeekTime(out long next) ? checked(_t0 + next) : null
                        );
                    }
                }
                int n = poller.Wait(tokens, 1000);
                if (_stopping)
                    break;
                lock (_gate)
                {
                    long now = Activate(guestStopped: false);
                    _machine.AdvanceTo(now); // device timers due by now
                    for (int i = 0; i < n; i++)
                    {
                        if (tokens[i] == KernelCallToken)
                        {
                            _kernel?.OnCall();
                            continue;
                        }
                        // Detached: the direct-wired kernel polls it; the vCPU thread reads it at its looks.
                        if (_mirror.Find(tokens[i]) is not { Active: true, Detached: false } r)
                            continue;
                        if (r.Real.Drain() == 0)
                            continue;
                        _kicks++;
                        _machine.Kick(now, r.Bus, r.Address, r.KickSize, r.KickValue);
                        if (_kernel is not null && _kernel.IsKick(r.SimFd))
                            _kernel.Relay();
                    }
                    _machine.AdvanceTo(now);
                }
            }
        }
        catch (Exception ex) when (ex is KvmException or ArgumentException or InvalidOperationException)
        {
            _failure ??= ex;
            _stopping = true;
            _vcpu.RequestImmediateExit();
        }
    }

    /// <summary>Closes the VM and every descriptor the recording opened.</summary>
    public void Dispose()
    {
        if (_abandoned)
            return;
        _kernel?.Dispose();
        _mirror.Dispose();
        _irq.Dispose();
        _stop.Dispose();
        _poller.Dispose();
        _vhostPoller?.Dispose();
        _vcpu.Dispose();
        _vm.Dispose();
        _ram.Dispose();
    }
}
