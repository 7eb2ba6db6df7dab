using System.Globalization;
using Sim.Devices.Virtio.Net;
using Sim.Guest.Drivers.Net;
using Sim.Machine.Scenarios;
using Sim.Spec.Net;

namespace Sim.Scenarios;

/// <summary>
/// "net": the virtio network device (VIRTIO 1.2 §5.1) on a loopback link that stays inside the simulation. The
/// guest's driver sends <c>frames</c> Ethernet frames of <c>bytes</c> bytes on transmitq1; the link echoes each one
/// back, and the device writes it with its virtio_net_hdr into a receive buffer. Options: <c>frames=N</c> (default
/// 4), <c>bytes=N</c> (14..1518, default 64), <c>flavour=</c>, <c>transport=</c>, <c>notify=</c>, <c>irq=</c>,
/// <c>dmesg=1</c>, <c>device_log=1</c> (one line per frame sent and received).
/// </summary>
public sealed class NetScenario : IScenario
{
    /// <summary>The bus-0 PCI slot the device is plugged into.</summary>
    public const int Slot = 7;

    /// <summary>Most frames the option accepts.</summary>
    public const long FramesMax = 100_000;

    /// <inheritdoc/>
    public string Name => "net";

    /// <inheritdoc/>
    public string Description =>
        "virtio-net (VIRTIO 1.2 §5.1): frames sent on transmitq1 echoed into receiveq1 by a loopback link";

    /// <inheritdoc/>
    public IReadOnlyList<ScenarioOption> Options { get; } =
    [
        ScenarioOption.Int("frames", 4, 1, FramesMax, "frames to send"),
        ScenarioOption.Int("bytes", 64, NetSpec.EthernetHeaderBytes, VirtioNetDriver.FrameBytesMax, "bytes per frame"),
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
        int frames = checked((int)options.GetInt64("frames", 4, 1, FramesMax));
        int bytes = checked(
            (int)options.GetInt64("bytes", 64, NetSpec.EthernetHeaderBytes, VirtioNetDriver.FrameBytesMax)
        );
        var flavour = ScenarioChoices.GetFlavour(options);
        var shared = VirtioLoggedScenario.Read(options);

        var machine = new PciMachine(options.ToSimulationOptions(Name));
        var backend = new NetBackend(NetBackendMode.Echo);
        var device = new VirtioNetDevice(backend, flavour);
        return shared.Start(
            machine,
            Slot,
            device,
            device.Log,
            report => new NetGuest(frames, bytes, shared.Dmesg, report, shared.Transport, shared.Irq, machine.IntxGsi),
            () =>
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"device: flavour={ScenarioChoices.Name(flavour)} sent={backend.FramesSent} "
                        + $"bytes={backend.BytesSent} "
                        + $"received={device.FramesReceived} dropped={device.ReceiveDropped} "
                        + $"broken={(device.IsBroken ? 1 : 0)}"
                ),
            NetSpec.LegacyPciDeviceId
        );
    }
}
