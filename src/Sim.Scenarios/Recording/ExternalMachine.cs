using Sim.Engine.Memory;
using Sim.Engine.Time;
using Sim.Machine.Kvm;
using Sim.Machine.Scenarios;
using Sim.Machine.Simulation;
using Sim.Scenarios;

namespace Sim.Scenarios.Recording;

/// <summary>
/// A scenario's machine (its <see cref="Simulation"/>, PCI host, device and transport) driven by a real vCPU's
/// inputs instead of a simulated guest program (docs/recording.md §1): the KVM recorder feeds it the exits,
/// guest stores and kicks of a live guest, and the replay of a KVM trace feeds it the recorded ones, through the
/// same methods, so both emit the same events. Each input takes the host time it happened at: every device
/// event due by then runs first (<see cref="EventLoop.RunUntil"/>), then the input is applied at that time.
/// Single-threaded: the recorder serialises its threads with one lock around every call.
/// </summary>
public sealed class ExternalMachine
{
    /// <summary>Where the guest image is loaded and entered (docs/recording.md §2).</summary>
    public const ulong ImageAddress = 0x10_0000;

    /// <summary>Where the VMM writes the guest's parameter block (guest/rt/rt.h struct rt_params).</summary>
    public const ulong ParamsAddress = 0x1000;

    /// <summary>Header options the recorder adds beside the scenario's own; not passed to the scenario
    /// (<c>kernel_vhost_wiring</c>, <c>kernel_vhost_timing</c>: how a kernel-vhost recording's eventfds were wired,
    /// docs/recording.md §5).</summary>
    public static readonly IReadOnlyList<string> RecorderOptionKeys =
    [
        "guest",
        "guest_sha256",
        "backend",
        "kernel_vhost_wiring",
        "kernel_vhost_timing",
    ];

    private ExternalMachine(IScenario scenario, ScenarioRun run)
    {
        Scenario = scenario;
        Run = run;
    }

    /// <summary>The scenario whose device the recording serves.</summary>
    public IScenario Scenario { get; }

    /// <summary>The scenario's run (its report lines summarise the device after the recording).</summary>
    public ScenarioRun Run { get; }

    /// <summary>The run's simulation.</summary>
    public Simulation Simulation => Run.Simulation;

    /// <summary>The run's KVM machine model.</summary>
    public KvmModel Kvm => Run.Simulation.Kvm;

    /// <summary>Builds scenario <paramref name="scenarioName"/>'s machine with a real vCPU in mind (zero latency,
    /// no guest program, irqchip forwarding). Recorder keys in <paramref name="options"/> are ignored. False with
    /// a message for an unknown scenario or options it refuses.</summary>
    public static bool TryCreate(
        string scenarioName,
        IEnumerable<KeyValuePair<string, string>> options,
        out ExternalMachine? machine,
        out string error
    )
    {
        ArgumentNullException.ThrowIfNull(options);
        machine = null;
        IScenario? scenario = ScenarioCatalog.Find(scenarioName);
        if (scenario is null || scenario.Name == "ping")
        {
            error =
                $"unknown device scenario '{scenarioName}' (known: "
                + $"{string.Join(", ", ScenarioCatalog.All.Where(s => s.Name != "ping").Select(s => s.Name))})";
            return false;
        }
        var named = options.Where(kv => !RecorderOptionKeys.Contains(kv.Key));
        var scenarioOptions = new ScenarioOptions(0, named) { ExternalVcpu = true };
        try
        {
            machine = new ExternalMachine(scenario, scenario.Create(scenarioOptions));
        }
        catch (ArgumentException ex)
        {
            error = $"scenario '{scenarioName}': {ex.Message}";
            return false;
        }
        error = "";
        return true;
    }

    /// <summary>Runs every device event due at or before <paramref name="time"/> and moves the clock there (never
    /// back: an earlier time is taken as now).</summary>
    public void AdvanceTo(long time)
    {
        EventLoop loop = Simulation.Loop;
        loop.RunUntil(Math.Max(time, loop.Now));
    }

    /// <summary>A read exit (KVM_EXIT_MMIO read, KVM_EXIT_IO in) at <paramref name="time"/>: the value for the
    /// vCPU.</summary>
    public ulong Read(long time, BusKind bus, ulong address, int size)
    {
        AdvanceTo(time);
        return Kvm.ExitRead(bus, address, size);
    }

    /// <summary>A write exit at <paramref name="time"/>.</summary>
    public void Write(long time, BusKind bus, ulong address, int size, ulong value)
    {
        AdvanceTo(time);
        Kvm.ExitWrite(bus, address, size, value);
    }

    /// <summary>A real ioeventfd fired at <paramref name="time"/> for the registration (bus, address, size,
    /// value). False when the machine holds no such registration any more.</summary>
    public bool Kick(long time, BusKind bus, ulong address, int size, ulong value)
    {
        AdvanceTo(time);
        return Kvm.SignalIoEventFd(bus, address, size, value);
    }

    /// <summary>The guest changed <paramref name="data"/>.Length bytes at <paramref name="address"/> since the last
    /// input (found by the dirty-log page diff): applied as a guest store, which emits the GuestWrite event.
    /// Stamped with the current time: the recorder brings the memory up to date before it advances the clock.
    /// False when the range is outside guest memory.</summary>
    public bool Store(ulong address, ReadOnlySpan<byte> data)
    {
        GuestMemory memory = Simulation.Memory;
        using (memory.As(MemoryActor.Guest))
            return memory.TryWrite(new GuestAddress(address), data);
    }

    /// <summary>Loads bytes the host puts in guest memory before the run (the image, the parameter block):
    /// not traced, part of the trace's initial memory.</summary>
    public bool Load(ulong address, ReadOnlySpan<byte> data)
    {
        GuestMemory memory = Simulation.Memory;
        bool ok;
        using (memory.As(MemoryActor.Host))
            ok = memory.TryWrite(new GuestAddress(address), data);
        memory.ClearDirty();
        return ok;
    }

    /// <summary>The end of the run at <paramref name="time"/>: runs what is due and closes an open console
    /// line.</summary>
    public void Finish(long time)
    {
        AdvanceTo(time);
        Kvm.FlushConsole();
        Simulation.Counters.TimeNs = Simulation.Loop.Now;
    }
}
