using System.Globalization;
using Sim.Devices.Virtio.Factorial;
using Sim.Engine;
using Sim.Guest.Drivers;
using Sim.Machine.Scenarios;

namespace Sim.Scenarios;

/// <summary>
/// "factorial": seed 001. The guest's virtio_test driver submits {arg1, "hello back end!"} requests; the
/// device computes arg1! (u32, wrapping); the driver's callback drains used buffers with the
/// disable_cb/enable_cb loop; the test program prints <c>n! = ret</c>. Options: <c>n=5,10,...</c> (the
/// arguments, default 0,1,5,10,12,13), <c>requests=N</c> (how many requests, cycling through n; default
/// one per n), <c>flavour=</c>, <c>transport=</c>, <c>notify=</c>, <c>irq=</c>, <c>dmesg=1</c>,
/// <c>device_log=1</c>.
/// </summary>
public sealed class FactorialScenario : IScenario
{
    /// <summary>The bus-0 PCI slot the device is plugged into.</summary>
    public const int Slot = 5;

    /// <summary>The arguments the driver sends by default.</summary>
    public const string ArgumentsDefault = "0,1,5,10,12,13";

    /// <summary>Most arguments the option accepts.</summary>
    public const int ArgumentsMax = 64;

    /// <summary>Most requests the option accepts.</summary>
    public const long RequestsMax = 100_000;

    /// <inheritdoc/>
    public string Name => "factorial";

    /// <inheritdoc/>
    public string Description => "seed 001: virtio factorial device, callback drain with disable_cb/enable_cb";

    /// <inheritdoc/>
    public IReadOnlyList<ScenarioOption> Options { get; } =
    [
        new ScenarioOption(
            "n",
            ArgumentsDefault,
            $"comma-separated u32 values, at most {ArgumentsMax}",
            "the arguments whose factorials the guest asks for"
        ),
        new ScenarioOption(
            "requests",
            ScenarioOption.DerivedDefault + "one per n value",
            $"1..{RequestsMax}",
            "requests to send, cycling through n"
        ),
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
        uint[] args = ParseArguments(options.GetString("n", ArgumentsDefault));
        int requests = Narrow.LowInt32(options.GetInt64("requests", args.Length, 1, RequestsMax));
        var flavour = ScenarioChoices.GetFlavour(options);
        var shared = VirtioLoggedScenario.Read(options);

        var machine = new PciMachine(options.ToSimulationOptions(Name));
        var device = new VirtioFactorialDevice(flavour);
        return shared.Start(
            machine,
            Slot,
            device,
            device.Log,
            report => new FactorialGuest(
                args,
                requests,
                shared.Dmesg,
                report,
                shared.Transport,
                shared.Irq,
                machine.IntxGsi
            ),
            () =>
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"device: flavour={flavour.ToString().ToLowerInvariant()} requests={device.Requests} "
                        + $"short={device.ShortRequests} detached={device.Detached} hung={(device.Hung ? 1 : 0)} "
                        + $"broken={(device.IsBroken ? 1 : 0)}"
                )
        );
    }

    /// <summary>Parses "5,10,13" (u32 values, at most <see cref="ArgumentsMax"/>).</summary>
    public static uint[] ParseArguments(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0 || parts.Length > ArgumentsMax)
            throw new ArgumentException($"option 'n' needs 1..{ArgumentsMax} comma-separated values");
        var values = new uint[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!uint.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out values[i]))
            {
                throw new ArgumentException($"option 'n': '{parts[i]}' is not a u32");
            }
        }
        return values;
    }
}
