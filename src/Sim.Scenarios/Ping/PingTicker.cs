using Sim.Machine.Simulation;

namespace Sim.Scenarios.Ping;

/// <summary>The ping scenario's periodic host timer: each expiry pulses a direct interrupt line
/// (an edge on <see cref="PingLayout.TimerGsi"/>, as a userspace timer device would).</summary>
internal sealed class PingTicker : ITimerListener
{
    private readonly Simulation _simulation;

    public PingTicker(Simulation simulation) => _simulation = simulation;

    public void OnTimer(VirtualTimer timer) => _simulation.Kvm.Irqchip.Pulse(PingLayout.TimerGsi);
}
