using Sim.Devices;
using Sim.Devices.Virtio.Demo;
using Sim.Devices.Virtio.Transport;
using Sim.Guest.Drivers;
using Sim.Machine.Kvm;
using Sim.Machine.Scenarios;

namespace Sim.Scenarios;

/// <summary>
/// The shape "virtio-demo" and "factorial" share: a virtio device with a printf log (<c>device_log=1</c>) behind
/// the virtio-pci transport, one guest whose driver prints with <c>dmesg=1</c>, and a summary of the device's log
/// lines ("qemu: "), its own line and the per-request report. Only the device, the guest and the device line
/// differ, so they stay in the scenarios and the wiring lives here once.
/// </summary>
/// <param name="Transport"><c>transport=modern|legacy</c>.</param>
/// <param name="UseIoEventFd"><c>notify=ioeventfd|exit</c>.</param>
/// <param name="Irq"><c>irq=msix|intx</c>.</param>
/// <param name="Dmesg"><c>dmesg=1</c>: the guest prints its driver's printk lines.</param>
/// <param name="DeviceLog"><c>device_log=1</c>: the summary starts with the device's printf lines.</param>
internal sealed record VirtioLoggedScenario(
    VirtioDriverTransport Transport,
    bool UseIoEventFd,
    VirtioInterruptMode Irq,
    bool Dmesg,
    bool DeviceLog
)
{
    /// <summary>Reads the five shared options, in this order (the first bad one is the one reported).</summary>
    public static VirtioLoggedScenario Read(ScenarioOptions options) =>
        new(
            ScenarioChoices.GetTransport(options),
            ScenarioChoices.GetUseIoEventFd(options),
            ScenarioChoices.GetInterruptMode(options),
            options.GetBool("dmesg", false),
            options.GetBool("device_log", false)
        );

    /// <summary>Plugs <paramref name="device"/> into <paramref name="slot"/> of <paramref name="machine"/>, starts
    /// the guest <paramref name="createGuest"/> makes for the run's report, and returns the run whose summary is the
    /// device log (when asked for), <paramref name="deviceLine"/> (formatted after the run) and the report.
    /// <paramref name="legacyPciDeviceId"/> is the transitional PCI id (0: the transport's default).</summary>
    public ScenarioRun Start(
        PciMachine machine,
        int slot,
        VirtioDevice device,
        DeviceLog log,
        Func<PerRequestReport, GuestProgram> createGuest,
        Func<string> deviceLine,
        ushort legacyPciDeviceId = 0
    )
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(createGuest);
        ArgumentNullException.ThrowIfNull(deviceLine);
        log.Enabled = DeviceLog;
        var pci = new VirtioPciTransport(
            machine.Simulation,
            device,
            ScenarioChoices.TransportOptions(Transport, Irq, UseIoEventFd) with
            {
                LegacyPciDeviceId = legacyPciDeviceId,
            }
        );
        machine.Attach(slot, pci);
        var report = new PerRequestReport(machine.Simulation.Counters);
        machine.Simulation.Kvm.Start(createGuest(report));
        bool deviceLog = DeviceLog;
        return new ScenarioRun(machine.Simulation, () =>
        {
            var lines = new List<string>();
            if (deviceLog)
                lines.AddRange(log.Lines.Select(l => "qemu: " + l));
            lines.Add(deviceLine());
            lines.Add(report.Line());
            return lines;
        });
    }
}
