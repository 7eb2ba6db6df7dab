using Sim.Engine.Memory;
using Sim.Guest.Drivers;
using Sim.Machine.Kvm;

namespace Sim.Scenarios;

/// <summary>
/// The part every virtio scenario guest shares: the transport and interrupt choices it was started with, the
/// probe of its driver over one fixed DMA window, and an interrupt handler that hands the GSI to the driver and
/// EOIs. Kept in one place so the guests differ only in their test programs (what lands in a trace is the same
/// sequence of accesses whichever guest runs it).
/// </summary>
/// <typeparam name="TDriver">The device driver the guest probes.</typeparam>
internal abstract class VirtioGuestProgram<TDriver> : GuestProgram
    where TDriver : class, IVirtioGuestDriver
{
    private readonly VirtioDriverTransport _transport;
    private readonly VirtioInterruptMode _irq;
    private readonly Func<int, int, uint> _intxGsi;

    protected VirtioGuestProgram(VirtioDriverTransport transport, VirtioInterruptMode irq, Func<int, int, uint> intxGsi)
    {
        _transport = transport;
        _irq = irq;
        _intxGsi = intxGsi;
    }

    /// <summary>The probed driver (null until the probe succeeded, so an early interrupt is only EOI'd).</summary>
    public TDriver? Driver { get; private set; }

    public override void OnInterrupt(GuestContext guest, uint gsi)
    {
        Driver?.HandleInterrupt(gsi);
        guest.Eoi(gsi);
    }

    /// <summary>Probes <paramref name="driver"/> with rings and buffers from <see cref="GuestDmaWindow"/>; on
    /// failure prints <paramref name="failure"/> (the test program's own error line) and returns false, and the
    /// program should end.</summary>
    protected bool TryProbe(GuestContext guest, TDriver driver, string failure)
    {
        var dma = new GuestDmaAllocator(new GuestAddress(GuestDmaWindow.Base), GuestDmaWindow.Bytes);
        if (!driver.Probe(new PciResourceWindows(), dma, _transport, _irq, _intxGsi))
        {
            guest.Print(failure);
            return false;
        }
        Driver = driver;
        return true;
    }
}
