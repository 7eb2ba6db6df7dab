using System.Globalization;
using Sim.Devices.Virtio.Demo;
using Sim.Engine;
using Sim.Guest.Drivers;
using Sim.Machine.Scenarios;

namespace Sim.Scenarios;

/// <summary>
/// "virtio-demo": seed 000 lab 2. The guest's virtio-pci driver probes the virtio-demo device, and the
/// test program writes 0x1333, 0x2333, 0x3333 reading each back, each a send_kick request that blocks
/// until the completion interrupt. Options: <c>flavour=robust|seed</c>, <c>requests=N</c> (run the test N
/// times; default 1), <c>transport=modern|legacy</c>, <c>notify=ioeventfd|exit</c>, <c>irq=msix|intx</c>,
/// <c>dmesg=1</c> (driver printk lines), <c>device_log=1</c> (the device's printf lines after the run).
/// </summary>
public sealed class VirtioDemoScenario : IScenario
{
    /// <summary>The bus-0 PCI slot the device is plugged into.</summary>
    public const int Slot = 4;

    /// <summary>Most rounds the option accepts.</summary>
    public const long RoundsMax = 100_000;

    /// <inheritdoc/>
    public string Name => "virtio-demo";

    /// <inheritdoc/>
    public string Description =>
        "seed 000 lab 2: virtio-demo device, send_kick/semaphore driver, ioeventfd or exit notify";

    /// <inheritdoc/>
    public IReadOnlyList<ScenarioOption> Options { get; } =
    [
        ScenarioOption.Flavour,
        ScenarioOption.Int("requests", 1, 1, RoundsMax, "times the test program runs (3 requests each)"),
        ScenarioChoices.TransportOption(),
        ScenarioChoices.NotifyOption,
        ScenarioChoices.IrqOption(),
        ScenarioChoices.DmesgOption,
        ScenarioChoices.DeviceLogOption,
    ];

    /// <inheritdoc/>
    public ScenarioRun Create(ScenarioOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.RequireKnown(Options);
        var flavour = ScenarioChoices.GetFlavour(options);
        int rounds = Narrow.LowInt32(options.GetInt64("requests", 1, 1, RoundsMax));
        var shared = VirtioLoggedScenario.Read(options);

        var machine = new PciMachine(options.ToSimulationOptions(Name));
        var device = new VirtioDemoDevice(flavour);
        return shared.Start(
            machine,
            Slot,
            device,
            device.Log,
            report => new VirtioDemoGuest(rounds, shared.Dmesg, report, shared.Transport, shared.Irq, machine.IntxGsi),
            () =>
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"device: flavour={flavour.ToString().ToLowerInvariant()} requests={device.Requests} "
                        + $"short={device.ShortRequests} unknown_opt={device.UnknownOpts} buff={device.Buff:x} "
                        + $"broken={(device.IsBroken ? 1 : 0)}"
                )
        );
    }
}
