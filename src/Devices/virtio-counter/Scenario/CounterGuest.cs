using Sim.Guest.Drivers;
using Sim.Guest.Drivers.Counter;
using Sim.Machine.Kvm;

namespace Sim.Scenarios;

/// <summary>The guest of "counter": virttest_probe, then the kernel idles (STI;HLT) and runs the driver's queued
/// work after each config-change interrupt, until <c>ticks</c> requests were acknowledged. The driver's printk
/// lines are printed with a "kernel: " prefix.</summary>
internal sealed class CounterGuest : VirtioGuestProgram<VirtioCounterDriver>
{
    private readonly int _ticks;
    private readonly PerRequestReport _report;

    public CounterGuest(
        int ticks,
        PerRequestReport report,
        VirtioDriverTransport transport,
        VirtioInterruptMode irq,
        Func<int, int, uint> intxGsi
    )
        : base(transport, irq, intxGsi)
    {
        _ticks = ticks;
        _report = report;
    }

    public override IEnumerator<VcpuStep> Run(GuestContext guest)
    {
        var driver = new VirtioCounterDriver(guest, line => guest.Print("kernel: " + line));
        if (!TryProbe(guest, driver, "kernel: virttest probe failed"))
            yield break;
        _report.Start(guest.Now);
        while (driver.Acks < _ticks)
        {
            if (driver.RunPendingWork())
            {
                yield return VcpuStep.Yield;
                continue;
            }
            yield return VcpuStep.Halt;
        }
        _report.Requests = driver.Acks;
        _report.Stop(guest.Now);
    }
}
