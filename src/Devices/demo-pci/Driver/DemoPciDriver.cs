using Sim.Engine;
using Sim.Machine.Kvm;
using Sim.Spec.Demo;

namespace Sim.Guest.Drivers.Demo;

/// <summary>
/// The guest kernel driver of seed 000 lab 1 (demo.c): demo_probe finds the "demo" PCI function,
/// pci_enable_device, pci_request_regions, pci_iomap(BAR0); demo_read is readl(bar0) and demo_write
/// writel(val, bar0) — one MMIO exit each (full device emulation).
/// </summary>
public sealed class DemoPciDriver
{
    private readonly GuestContext _guest;
    private readonly Action<string>? _dmesg;
    private ulong _bar0;

    /// <param name="guest">The guest the driver runs in.</param>
    /// <param name="dmesg">Where the driver's printk lines go (null: dropped).</param>
    public DemoPciDriver(GuestContext guest, Action<string>? dmesg = null)
    {
        ArgumentNullException.ThrowIfNull(guest);
        _guest = guest;
        _dmesg = dmesg;
    }

    /// <summary>BAR0 address once probed.</summary>
    public ulong Bar0 => _bar0;

    /// <summary>True once demo_probe found the device and mapped BAR0.</summary>
    public bool IsProbed { get; private set; }

    /// <summary>demo_probe: enumerate, map BAR0, enable memory decoding. False when no demo device is
    /// present.</summary>
    public bool Probe(PciResourceWindows windows)
    {
        ArgumentNullException.ThrowIfNull(windows);
        GuestPciFunction? pci = PciEnumerator.Find(_guest, DemoPciSpec.VendorIdQemu, DemoPciSpec.DeviceIdDemo, windows);
        if (pci == null)
            return false;
        _dmesg?.Invoke("demo_probe() begin");
        pci.Enable(busMaster: false);
        if (pci.GetBar(0) is not { IsIo: false } bar)
        {
            _dmesg?.Invoke("failed to read BAR0");
            return false;
        }
        _bar0 = bar.Address;
        IsProbed = true;
        _dmesg?.Invoke("demo_probe() end");
        return true;
    }

    /// <summary>demo_read: readl(bar0).</summary>
    public uint Read() => Narrow.LowUInt32(_guest.MmioRead(RequireBar(), 4));

    /// <summary>demo_write: writel(val, bar0).</summary>
    public void Write(uint value) => _guest.MmioWrite(RequireBar(), 4, value);

    private ulong RequireBar() =>
        IsProbed ? _bar0 : throw new InvalidOperationException("the demo driver is not probed");
}
