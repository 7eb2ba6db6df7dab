using System.Globalization;
using Sim.Devices.Vhost.Frontend;

namespace Virtsim.Cli.Export;

/// <summary>Track names for a trace's host actors. A trace names actors only by their trace source, so the role comes
/// from the scenario and the devices' own trace ids: in a vhost scenario the vhost worker's id
/// (<see cref="VhostDemoFrontendDevice.VhostTraceIdDefault"/>) is the vhost worker and the rest is QEMU's main loop;
/// ping's backend is its worker thread; every other device runs on QEMU's main loop (its host thread).</summary>
internal sealed class ActorNames
{
    /// <summary>Ping's backend worker's trace source (Sim.Engine's internal <c>PingLayout.BackendActor</c>).</summary>
    private const uint PingBackendActor = 1;

    private readonly string _scenario;

    private ActorNames(string scenario) => _scenario = scenario;

    public static ActorNames For(string scenario) => new(scenario);

    public string Actor(uint source)
    {
        string role;
        if (
            _scenario.Contains("vhost", StringComparison.Ordinal)
            && source == VhostDemoFrontendDevice.VhostTraceIdDefault
        )
            role = "vhost worker";
        else if (_scenario == "ping" && source == PingBackendActor)
            role = "backend worker";
        else
            role = "QEMU main loop";
        return string.Create(CultureInfo.InvariantCulture, $"{role} (actor 0x{source:x})");
    }

    public static string Timer(uint source) => string.Create(CultureInfo.InvariantCulture, $"device timer {source}");

    public static string Vcpu => "vCPU 0";
}
