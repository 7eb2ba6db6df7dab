using Sim.Devices;
using Sim.Engine.Scenarios;
using Sim.Guest.Drivers;

namespace Sim.Guest.Scenarios;

/// <summary>Parsing of the option values the device scenarios share (flavour, transport, notify, irq).
/// Unknown values throw <see cref="ArgumentException"/>, which the CLI reports.</summary>
public static class ScenarioChoices
{
    /// <summary><c>flavour=robust|seed</c> (default robust).</summary>
    public static Flavour GetFlavour(ScenarioOptions options) => Pick(options, "flavour", "robust", ("robust", Flavour.Robust), ("seed", Flavour.Seed));

    /// <summary><c>transport=modern|legacy</c> (default modern).</summary>
    public static VirtioDriverTransport GetTransport(ScenarioOptions options) =>
        Pick(options, "transport", "modern", ("modern", VirtioDriverTransport.Modern), ("legacy", VirtioDriverTransport.Legacy));

    /// <summary><c>notify=ioeventfd|exit</c> (default ioeventfd): true for ioeventfd.</summary>
    public static bool GetUseIoEventFd(ScenarioOptions options) => Pick(options, "notify", "ioeventfd", ("ioeventfd", true), ("exit", false));

    /// <summary><c>irq=msix|intx</c> (default msix).</summary>
    public static VirtioInterruptMode GetInterruptMode(ScenarioOptions options) =>
        Pick(options, "irq", "msix", ("msix", VirtioInterruptMode.Msix), ("intx", VirtioInterruptMode.Intx));

    private static T Pick<T>(ScenarioOptions options, string name, string fallback, params (string Name, T Value)[] choices)
    {
        ArgumentNullException.ThrowIfNull(options);
        string text = options.GetString(name, fallback);
        foreach ((string n, T v) in choices)
        {
            if (string.Equals(n, text, StringComparison.Ordinal)) return v;
        }
        throw new ArgumentException($"option '{name}' must be one of {string.Join("|", choices.Select(c => c.Name))}, not '{text}'");
    }
}
