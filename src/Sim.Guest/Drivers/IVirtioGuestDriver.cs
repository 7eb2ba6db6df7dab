namespace Sim.Guest.Drivers;

/// <summary>
/// What a simulated guest program needs from a virtio device driver: its probe and its part of the interrupt
/// handler. Every driver of this assembly probes the same way (find the PCI function, pick the transport and
/// interrupt mode, allocate rings from the DMA window), so one guest-program base can run any of them.
/// </summary>
public interface IVirtioGuestDriver
{
    /// <summary>The driver's probe. False when the device is absent or negotiation/queue setup fails.</summary>
    bool Probe(
        PciResourceWindows windows,
        GuestDmaAllocator dma,
        VirtioDriverTransport transport,
        VirtioInterruptMode irq,
        Func<int, int, uint>? intxGsi = null
    );

    /// <summary>The interrupt handler's part for this device (true when it was ours). The program EOIs.</summary>
    bool HandleInterrupt(uint gsi);
}
