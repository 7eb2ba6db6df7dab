using Sim.Devices;
using Sim.Engine.Scenarios;
using Sim.Guest.Drivers;

namespace Sim.Guest.Scenarios;

/// <summary>The flavour/transport/irq/notify options shared by the counter and blk scenarios (parsed strictly:
/// an unknown value is an <see cref="ArgumentException"/>).</summary>
internal static class CounterScenarioChoices
{
    public static Flavour GetFlavour(ScenarioOptions options) => options.GetString("flavour", "robust") switch
    {
        "robust" => Flavour.Robust,
        "seed" => Flavour.Seed,
        string other => throw new ArgumentException($"option 'flavour' must be robust or seed, not '{other}'"),
    };

    public static VirtioDriverTransport GetTransport(ScenarioOptions options, string fallback) => options.GetString("transport", fallback) switch
    {
        "modern" => VirtioDriverTransport.Modern,
        "legacy" => VirtioDriverTransport.Legacy,
        string other => throw new ArgumentException($"option 'transport' must be modern or legacy, not '{other}'"),
    };

    public static VirtioInterruptMode GetInterruptMode(ScenarioOptions options, string fallback) => options.GetString("irq", fallback) switch
    {
        "msix" => VirtioInterruptMode.Msix,
        "intx" => VirtioInterruptMode.Intx,
        string other => throw new ArgumentException($"option 'irq' must be msix or intx, not '{other}'"),
    };

    public static bool GetUseIoEventFd(ScenarioOptions options) => options.GetString("notify", "ioeventfd") switch
    {
        "ioeventfd" => true,
        "exit" => false,
        string other => throw new ArgumentException($"option 'notify' must be ioeventfd or exit, not '{other}'"),
    };

    public static string Name(Flavour flavour) => flavour == Flavour.Seed ? "seed" : "robust";
}
