using System.Globalization;
using Sim.Devices;
using Sim.Devices.Vhost;
using Sim.Devices.Vhost.Frontend;
using Sim.Devices.Virtio.Transport;
using Sim.Engine;
using Sim.Guest.Drivers;
using Sim.Machine.Scenarios;

namespace Sim.Scenarios;

/// <summary>
/// "vhost-demo": seed 000 lab 3. The same guest driver and test program as "virtio-demo" (lab 2's
/// virtio_demo.c and test), but the device is <see cref="VhostDemoFrontendDevice"/>: QEMU's handler is empty and
/// DRIVER_OK hands the ring to the in-kernel vhost-demo backend. Kicks go ioeventfd → vhost worker; completions go
/// call eventfd → irqfd → MSI-X (or, with <c>irq=intx</c>, through QEMU's userspace guest notifier → ISR → INTx).
/// Options: <c>flavour=robust|seed</c> (the backend: the seed's handle_demo_kick requeues itself forever, which
/// the report names a livelock), <c>requests=N</c>, <c>transport=modern|legacy</c>, <c>irq=msix|intx</c>,
/// <c>dmesg=1</c>, <c>device_log=1</c> (QEMU's printf lines).
/// </summary>
public sealed class VhostDemoScenario : IScenario
{
    /// <summary>The bus-0 PCI slot the device is plugged into.</summary>
    public const int Slot = 4;

    /// <summary>Most rounds the option accepts.</summary>
    public const long RoundsMax = 100_000;

    /// <summary>Events the run may take: the seed backend's worker spins one event per handler run for as long as
    /// the guest runs, so the cap stays far above a normal run (a few dozen events per request) and ends a run the
    /// guest never finishes.</summary>
    public const long EventsMax = 20_000_000;

    /// <inheritdoc/>
    public string Name => "vhost-demo";

    /// <inheritdoc/>
    public string Description => "seed 000 lab 3: virtio-demo driver on a vhost backend (ioeventfd kick, irqfd call)";

    /// <inheritdoc/>
    public IReadOnlyList<ScenarioOption> Options { get; } =
    [
        ScenarioOption.Flavour,
        ScenarioOption.Int("requests", 1, 1, RoundsMax, "times the test program runs (3 requests each)"),
        ScenarioChoices.TransportOption(),
        ScenarioChoices.IrqOption(),
        ScenarioChoices.DmesgOption,
        ScenarioChoices.DeviceLogOption,
    ];

    /// <inheritdoc/>
    public ScenarioRun Create(ScenarioOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.RequireKnown(Options);
        Flavour flavour = ScenarioChoices.GetFlavour(options);
        int rounds = Narrow.LowInt32(options.GetInt64("requests", 1, 1, RoundsMax));
        VirtioDriverTransport transport = ScenarioChoices.GetTransport(options);
        VirtioInterruptMode irq = ScenarioChoices.GetInterruptMode(options);
        bool dmesg = options.GetBool("dmesg", false);
        bool deviceLog = options.GetBool("device_log", false);

        var machine = new PciMachine(options.ToSimulationOptions(Name) with { EventsMax = EventsMax });
        var device = new VhostDemoFrontendDevice(machine.Simulation, flavour);
        device.Log.Enabled = deviceLog;
        var pci = new VirtioPciTransport(
            machine.Simulation,
            device,
            ScenarioChoices.TransportOptions(transport, irq, ioeventfd: true) with
            {
                UseIrqFd = true,
            }
        );
        machine.Attach(Slot, pci);
        var report = new PerRequestReport(machine.Simulation.Counters);
        machine.Simulation.Kvm.Start(new VirtioDemoGuest(rounds, dmesg, report, transport, irq, machine.IntxGsi));
        return new ScenarioRun(machine.Simulation, () => Summary(device, deviceLog, report));
    }

    private static List<string> Summary(VhostDemoFrontendDevice device, bool deviceLog, PerRequestReport report)
    {
        var lines = new List<string>();
        if (deviceLog)
            lines.AddRange(device.Log.Lines.Select(l => "qemu: " + l));
        VhostDemo backend = device.Backend;
        VhostVirtqueue vq = backend.Device.Vqs[0];
        VhostWorker? worker = backend.Device.Worker;
        string flavour = backend.Flavour.ToString().ToLowerInvariant();
        uint state = backend.Flavour == Flavour.Seed ? backend.V4 : backend.Buff;
        lines.Add(
            string.Create(
                CultureInfo.InvariantCulture,
                $"device: flavour={flavour} requests={backend.Requests} short={backend.ShortRequests} buff={state:x} "
                    + $"vq_errors={vq.VqErrors} qemu_handler_runs={device.QemuHandlerRuns}"
            )
        );
        string startError =
            device.StartFailures == 0
                ? ""
                : string.Create(
                    CultureInfo.InvariantCulture,
                    $" start_error=\"{device.LastStartError ?? device.LastStartStep + ": " + device.LastStartResult}\""
                );
        lines.Add(
            string.Create(
                CultureInfo.InvariantCulture,
                $"vhost: started={(device.VhostStarted ? 1 : 0)} starts={device.Starts} "
                    + $"start_failures={device.StartFailures} "
                    + $"call={device.GetCallPath(0).ToString().ToLowerInvariant()} kick_wakeups={vq.Poll.Wakeups} "
                    + $"worker_wakeups={worker?.Wakeups ?? 0} handler_runs={worker?.HandlerRuns ?? 0} "
                    + $"call_signals={vq.CallSignals} userspace_calls={device.GetUserspaceCalls(0)}{startError}"
            )
        );
        if (worker is { IdleSelfRequeues: > 0 } w)
        {
            // Seed handle_demo_kick ends with an unconditional vhost_poll_queue: the worker never sleeps again.
            lines.Add(
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"vhost: worker livelocked: handle_demo_kick requeued itself {w.SelfRequeues} times "
                        + $"({w.IdleSelfRequeues} without progress, longest streak {w.IdleSelfRequeueStreakMax}, "
                        + $"livelock reports {w.LivelocksDetected}); sleeping={(w.Sleeping ? 1 : 0)}"
                )
            );
        }
        lines.Add(report.Line());
        return lines;
    }
}
