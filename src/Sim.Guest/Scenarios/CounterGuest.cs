using Sim.Engine.Kvm;
using Sim.Engine.Memory;
using Sim.Guest.Drivers;
using Sim.Guest.Drivers.Counter;

namespace Sim.Guest.Scenarios;

/// <summary>The guest of "counter": virttest_probe, then the kernel idles (STI;HLT) and runs the driver's queued
/// work after each config-change interrupt, until <c>ticks</c> requests were acknowledged. The driver's printk
/// lines are printed with a "kernel: " prefix.</summary>
internal sealed class CounterGuest : GuestProgram
{
    public const ulong DmaBase = 0x10_0000;

    public const ulong DmaBytes = 0x10_0000;

    private readonly int _ticks;
    private readonly PerRequestReport _report;
    private readonly VirtioDriverTransport _transport;
    private readonly VirtioInterruptMode _irq;
    private readonly Func<int, int, uint> _intxGsi;
    private VirtioCounterDriver? _driver;

    public CounterGuest(int ticks, PerRequestReport report, VirtioDriverTransport transport, VirtioInterruptMode irq, Func<int, int, uint> intxGsi)
    {
        _ticks = ticks;
        _report = report;
        _transport = transport;
        _irq = irq;
        _intxGsi = intxGsi;
    }

    public VirtioCounterDriver? Driver => _driver;

    public override IEnumerator<VcpuStep> Run(GuestContext guest)
    {
        var driver = new VirtioCounterDriver(guest, line => guest.Print("kernel: " + line));
        var dma = new GuestDmaAllocator(new GuestAddress(DmaBase), DmaBytes);
        if (!driver.Probe(new PciResourceWindows(), dma, _transport, _irq, _intxGsi))
        {
            guest.Print("kernel: virttest probe failed");
            yield break;
        }
        _driver = driver;
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

    public override void OnInterrupt(GuestContext guest, uint gsi)
    {
        _driver?.HandleInterrupt(gsi);
        guest.Eoi(gsi);
    }
}
