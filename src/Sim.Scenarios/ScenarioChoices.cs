using Sim.Devices;
using Sim.Devices.Virtio.Transport;
using Sim.Guest.Drivers;
using Sim.Machine.Scenarios;

namespace Sim.Scenarios;

/// <summary>Parsing of the option values the device scenarios share (flavour, transport, notify, irq).
/// Unknown values throw <see cref="ArgumentException"/>, which the CLI reports.</summary>
public static class ScenarioChoices
{
    /// <summary><c>flavour=robust|seed</c> (default robust).</summary>
    public static Flavour GetFlavour(ScenarioOptions options) =>
        Pick(options, "flavour", "robust", ("robust", Flavour.Robust), ("seed", Flavour.Seed));

    /// <summary><c>transport=modern|legacy</c> (default <paramref name="fallback"/>: modern, or legacy for blk as in
    /// seed 003).</summary>
    public static VirtioDriverTransport GetTransport(ScenarioOptions options, string fallback = "modern") =>
        Pick(
            options,
            "transport",
            fallback,
            ("modern", VirtioDriverTransport.Modern),
            ("legacy", VirtioDriverTransport.Legacy)
        );

    /// <summary><c>notify=ioeventfd|exit</c> (default ioeventfd): true for ioeventfd.</summary>
    public static bool GetUseIoEventFd(ScenarioOptions options) =>
        Pick(options, "notify", "ioeventfd", ("ioeventfd", true), ("exit", false));

    /// <summary><c>irq=msix|intx</c> (default <paramref name="fallback"/>: msix, or intx for blk).</summary>
    public static VirtioInterruptMode GetInterruptMode(ScenarioOptions options, string fallback = "msix") =>
        Pick(options, "irq", fallback, ("msix", VirtioInterruptMode.Msix), ("intx", VirtioInterruptMode.Intx));

    /// <summary>Declaration of <c>transport</c> (<see cref="GetTransport"/>).</summary>
    public static ScenarioOption TransportOption(string fallback = "modern") =>
        ScenarioOption.Choice(
            "transport",
            fallback,
            "virtio-pci transport: modern (capabilities, BAR MMIO) or legacy (I/O BAR)",
            "modern",
            "legacy"
        );

    /// <summary>Declaration of <c>notify</c> (<see cref="GetUseIoEventFd"/>).</summary>
    public static ScenarioOption NotifyOption { get; } =
        ScenarioOption.Choice(
            "notify",
            "ioeventfd",
            "kick path: ioeventfd to the device's host thread, or a userspace exit",
            "ioeventfd",
            "exit"
        );

    /// <summary>Declaration of <c>irq</c> (<see cref="GetInterruptMode"/>).</summary>
    public static ScenarioOption IrqOption(string fallback = "msix") =>
        ScenarioOption.Choice("irq", fallback, "interrupt path: MSI-X (irqfd) or INTx + ISR", "msix", "intx");

    /// <summary>Declaration of <c>dmesg</c>.</summary>
    public static ScenarioOption DmesgOption { get; } =
        ScenarioOption.Bool("dmesg", false, "the guest prints its driver's printk lines");

    /// <summary>Declaration of <c>device_log</c>.</summary>
    public static ScenarioOption DeviceLogOption { get; } =
        ScenarioOption.Bool("device_log", false, "the summary starts with the device's printf lines");

    /// <summary>The option value naming <paramref name="flavour"/>, for report lines.</summary>
    public static string Name(Flavour flavour) => flavour == Flavour.Seed ? "seed" : "robust";

    /// <summary>MSI-X vectors for a one-queue device: the config vector plus one queue vector
    /// (QEMU's default for such a device).</summary>
    public const int MsixVectorsOneQueue = 2;

    /// <summary>The transport options the chosen transport, irq and notify path ask for. Scenarios add
    /// their device-specific settings with <c>with { ... }</c>.</summary>
    public static VirtioPciOptions TransportOptions(
        VirtioDriverTransport transport,
        VirtioInterruptMode irq,
        bool ioeventfd
    ) =>
        new()
        {
            Mode = transport == VirtioDriverTransport.Modern ? VirtioPciMode.Modern : VirtioPciMode.Legacy,
            MsixVectors = irq == VirtioInterruptMode.Msix ? MsixVectorsOneQueue : 0,
            UseIoEventFd = ioeventfd,
        };

    private static T Pick<T>(
        ScenarioOptions options,
        string name,
        string fallback,
        params (string Name, T Value)[] choices
    )
    {
        ArgumentNullException.ThrowIfNull(options);
        string text = options.GetString(name, fallback);
        foreach ((string n, T v) in choices)
        {
            if (string.Equals(n, text, StringComparison.Ordinal))
                return v;
        }
        throw new ArgumentException(
            $"option '{name}' must be one of {string.Join("|", choices.Select(c => c.Name))}, not '{text}'"
        );
    }
}
