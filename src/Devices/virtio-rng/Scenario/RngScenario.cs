using System.Globalization;
using Sim.Devices.Virtio.Rng;
using Sim.Engine;
using Sim.Guest.Drivers.Rng;
using Sim.Machine.Scenarios;
using Sim.Spec.Rng;

namespace Sim.Scenarios;

/// <summary>
/// "rng": the virtio entropy device (VIRTIO 1.2 §5.4). The guest's hwrng driver reads <c>bytes</c> bytes per request
/// into one device-writable buffer; the device fills it from the simulation's seeded PRNG, so the "random" bytes the
/// guest prints are the same on every run with that seed. Options: <c>requests=N</c> (default 8), <c>bytes=N</c>
/// (1..4096, default 64), <c>flavour=</c>, <c>transport=</c>, <c>notify=</c>, <c>irq=</c>, <c>dmesg=1</c>,
/// <c>device_log=1</c>.
/// </summary>
public sealed class RngScenario : IScenario
{
    /// <summary>The bus-0 PCI slot the device is plugged into.</summary>
    public const int Slot = 6;

    /// <summary>Most requests the option accepts.</summary>
    public const long RequestsMax = 100_000;

    /// <inheritdoc/>
    public string Name => "rng";

    /// <inheritdoc/>
    public string Description =>
        "virtio-rng (VIRTIO 1.2 §5.4): entropy from the seeded PRNG into device-writable buffers";

    /// <inheritdoc/>
    public IReadOnlyList<ScenarioOption> Options { get; } =
    [
        ScenarioOption.Int("requests", 8, 1, RequestsMax, "hwrng reads to make"),
        ScenarioOption.Int("bytes", 64, 1, VirtioRngDriver.BufferBytesMax, "bytes asked for per read"),
        ScenarioOption.Flavour,
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
        int requests = Narrow.LowInt32(options.GetInt64("requests", 8, 1, RequestsMax));
        int bytes = Narrow.LowInt32(options.GetInt64("bytes", 64, 1, VirtioRngDriver.BufferBytesMax));
        var flavour = ScenarioChoices.GetFlavour(options);
        var shared = VirtioLoggedScenario.Read(options);

        var machine = new PciMachine(options.ToSimulationOptions(Name));
        var device = new VirtioRngDevice(machine.Simulation.Prng.Fork(VirtioRngDevice.EntropyPrngStream), flavour);
        return shared.Start(
            machine,
            Slot,
            device,
            device.Log,
            report => new RngGuest(
                requests,
                bytes,
                shared.Dmesg,
                report,
                shared.Transport,
                shared.Irq,
                machine.IntxGsi
            ),
            () =>
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"device: flavour={ScenarioChoices.Name(flavour)} requests={device.Requests} "
                        + $"bytes={device.BytesWritten} refused={device.Refused} broken={(device.IsBroken ? 1 : 0)}"
                ),
            RngSpec.LegacyPciDeviceId
        );
    }
}
