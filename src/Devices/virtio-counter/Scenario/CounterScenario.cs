using System.Globalization;
using Sim.Devices;
using Sim.Devices.Virtio.Counter;
using Sim.Devices.Virtio.Transport;
using Sim.Engine;
using Sim.Guest.Drivers;
using Sim.Machine.Scenarios;
using Sim.Machine.Simulation;
using Sim.Spec.Counter;

namespace Sim.Scenarios;

/// <summary>
/// "counter": seed 002. The virtio counter device's timer raises a config-change interrupt every period; the
/// guest driver increments its counter and sends it through the queue; the device logs each number. Prints the
/// seed's qemu_log lines ("qemu: ") and the driver's printk lines ("kernel: ") in virtual-time order, then the
/// device and per-request summaries. Options: <c>ticks=N</c> (acknowledged requests before the guest stops,
/// default 5), <c>period_ns</c> (default 1 s, the seed's), <c>first_delay_ns</c> (seed flavour: realize to the
/// first tick, default 30 s, the seed's), <c>flavour=robust|seed</c>, <c>transport=modern|legacy</c> (default
/// modern, as Linux picks for a transitional device), <c>irq=msix|intx</c> (default msix),
/// <c>notify=ioeventfd|exit</c>.
/// </summary>
public sealed class CounterScenario : IScenario
{
    /// <summary>The bus-0 PCI slot the device is plugged into.</summary>
    public const int Slot = 5;

    /// <summary>Most timer ticks the option accepts.</summary>
    public const long TicksMax = 100_000;

    /// <inheritdoc/>
    public string Name => "counter";

    /// <inheritdoc/>
    public string Description =>
        "seed 002: virtio counter device, timer config-change interrupts, driver sends its counter";

    /// <inheritdoc/>
    public IReadOnlyList<ScenarioOption> Options { get; } =
    [
        ScenarioOption.Int("ticks", 5, 1, TicksMax, "timer ticks the guest waits for"),
        ScenarioOption.Int(
            "period_ns",
            CounterSpec.SeedPeriodNs,
            1_000,
            60_000_000_000,
            "the device timer's period, in ns"
        ),
        ScenarioOption.Int(
            "first_delay_ns",
            CounterSpec.SeedFirstDelayNs,
            0,
            600_000_000_000,
            "delay before the first tick, in ns"
        ),
        ScenarioOption.Flavour,
        ScenarioChoices.TransportOption(),
        ScenarioChoices.IrqOption(),
        ScenarioChoices.NotifyOption,
    ];

    /// <inheritdoc/>
    public ScenarioRun Create(ScenarioOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.RequireKnown(Options);
        int ticks = Narrow.LowInt32(options.GetInt64("ticks", 5, 1, TicksMax));
        long period = options.GetInt64("period_ns", CounterSpec.SeedPeriodNs, 1_000, 60_000_000_000);
        long firstDelay = options.GetInt64("first_delay_ns", CounterSpec.SeedFirstDelayNs, 0, 600_000_000_000);
        Flavour flavour = ScenarioChoices.GetFlavour(options);
        VirtioDriverTransport transport = ScenarioChoices.GetTransport(options, "modern");
        VirtioInterruptMode irq = ScenarioChoices.GetInterruptMode(options, "msix");
        bool ioeventfd = ScenarioChoices.GetUseIoEventFd(options);

        // Virtual time is free: give the run room for the first delay and every tick, with slack for lost ones.
        long timeMax = checked(firstDelay + ((ticks + 8L) * period) + 1_000_000_000);
        var machine = new PciMachine(options.ToSimulationOptions(Name) with { TimeMax = timeMax });
        Simulation sim = machine.Simulation;
        var device = new VirtioCounterDevice(
            sim,
            new CounterDeviceOptions
            {
                Flavour = flavour,
                FirstDelayNs = firstDelay,
                PeriodNs = period,
                TicksMax = ticks + 1_000L,
                EchoLog = true,
            }
        );
        var pci = new VirtioPciTransport(
            sim,
            device,
            ScenarioChoices.TransportOptions(transport, irq, ioeventfd) with
            {
                Mode = VirtioPciMode.Transitional,
                LegacyPciDeviceId = CounterSpec.LegacyPciDeviceId,
                Flavour = flavour,
            }
        );
        machine.Attach(Slot, pci);
        var report = new PerRequestReport(sim.Counters);
        var guest = new CounterGuest(ticks, report, transport, irq, machine.IntxGsi);
        sim.Kvm.Start(guest);
        return new ScenarioRun(sim, () =>
            [
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"device: flavour={ScenarioChoices.Name(flavour)} ticks={device.Ticks} "
                        + $"config_irqs={device.ConfigInterrupts} ticks_lost={device.TicksLost} "
                        + $"requests={device.Requests} numbers={device.NumbersReceived} "
                        + $"last_used_len={guest.Driver?.LastUsedLen ?? 0} broken={(device.IsBroken ? 1 : 0)}"
                ),
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"driver: counter={guest.Driver?.Counter ?? 0} config_changes={guest.Driver?.ConfigChanges ?? 0} "
                        + $"sent={guest.Driver?.Sent ?? 0} acks={guest.Driver?.Acks ?? 0} "
                        + $"add_failures={guest.Driver?.AddFailures ?? 0}"
                ),
                report.Line(),
            ]
        );
    }
}
