using System.Globalization;
using Sim.Devices.Demo;
using Sim.Engine;
using Sim.Guest.Drivers;
using Sim.Machine.Scenarios;

namespace Sim.Scenarios;

/// <summary>
/// "demo": seed 000 lab 1, full device emulation. The guest enumerates PCI through 0xCF8/0xCFC, maps
/// BAR0 of the demo device, and the seed's test program writes 0x1333, 0x2333, 0x3333, reading each
/// back — every access a userspace MMIO exit. Options: <c>flavour=robust|seed</c>, <c>requests=N</c>
/// (run the test N times; default 1), <c>dmesg=1</c> (print the driver's printk lines).
/// </summary>
public sealed class DemoScenario : IScenario
{
    /// <summary>Slot the device sits in.</summary>
    public const int Slot = 3;

    /// <summary>Most rounds the option accepts.</summary>
    public const long RoundsMax = 100_000;

    /// <inheritdoc/>
    public string Name => "demo";

    /// <inheritdoc/>
    public string Description => "seed 000 lab 1: demo PCI device, BAR0 MMIO write/read (full emulation)";

    /// <inheritdoc/>
    public IReadOnlyList<ScenarioOption> Options { get; } =
    [
        ScenarioOption.Flavour,
        ScenarioOption.Int("requests", 1, 1, RoundsMax, "times the test program runs"),
        ScenarioChoices.DmesgOption,
    ];

    /// <inheritdoc/>
    public ScenarioRun Create(ScenarioOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.RequireKnown(Options);
        var flavour = ScenarioChoices.GetFlavour(options);
        int rounds = Narrow.LowInt32(options.GetInt64("requests", 1, 1, RoundsMax));
        bool dmesg = options.GetBool("dmesg", false);
        var machine = new PciMachine(options.ToSimulationOptions(Name));
        var device = new DemoPciDevice(flavour);
        machine.Attach(Slot, device);
        var report = new PerRequestReport(machine.Simulation.Counters);
        machine.Simulation.Kvm.Start(new DemoGuest(rounds, dmesg, report));
        return new ScenarioRun(machine.Simulation, () =>
            [
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"device: flavour={flavour.ToString().ToLowerInvariant()} buff={device.Buff:x}"
                ),
                report.Line(),
            ]
        );
    }
}
