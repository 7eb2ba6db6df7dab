using Sim.Engine;
using Sim.Machine.Kvm;

namespace Sim.Devices.Pci;

/// <summary>
/// Routes INTx# pins of bus-0 devices to level-triggered GSIs of the in-kernel irqchip as a PC does:
/// the PIIX3 swizzle picks PIRQ[(slot + pin - 1) mod 4] (QEMU pci_slot_get_pirq), and the firmware's
/// PIRQ routing maps PIRQ A..D to <see cref="DefaultPirqGsis"/> (SeaBIOS's pci_irqs: 10, 10, 11, 11).
/// Lines are wired-OR: a GSI stays asserted while any device on it asserts its pin.
/// </summary>
public sealed class PciIntxRouter : IPciIntxSink
{
    /// <summary>GSIs of PIRQ A, B, C, D after SeaBIOS programs the PIIX3 routing registers.</summary>
    public static readonly uint[] DefaultPirqGsis = [10, 10, 11, 11];

    private readonly InterruptController _irqchip;
    private readonly uint[] _pirqGsis;
    private readonly PciDevice?[] _devices = new PciDevice?[PciHostBridge.SlotCount];
    private readonly int[] _assertedCount = new int[InterruptController.GsiMax];

    public PciIntxRouter(InterruptController irqchip, uint[]? pirqGsis = null)
    {
        ArgumentNullException.ThrowIfNull(irqchip);
        pirqGsis ??= DefaultPirqGsis;
        if (pirqGsis.Length != 4) throw new ArgumentException("four PIRQ lines (A..D)", nameof(pirqGsis));
        foreach (uint gsi in pirqGsis)
        {
            if (!InterruptController.IsValidGsi(gsi)) throw new ArgumentOutOfRangeException(nameof(pirqGsis), gsi, "not a GSI");
            irqchip.SetLevelTriggered(gsi, true);
        }
        _irqchip = irqchip;
        _pirqGsis = (uint[])pirqGsis.Clone();
    }

    /// <summary>The GSI that <paramref name="pin"/> (1..4) of the device in <paramref name="slot"/> reaches.</summary>
    public uint GsiFor(int slot, int pin)
    {
        if (Narrow.AsUInt32Bits(slot) >= PciHostBridge.SlotCount) throw new ArgumentOutOfRangeException(nameof(slot));
        if (pin is < 1 or > 4) throw new ArgumentOutOfRangeException(nameof(pin), "INTA#..INTD# are pins 1..4");
        return _pirqGsis[(slot + pin - 1) & 3];
    }

    /// <summary>Records which slot <paramref name="device"/> occupies (done by
    /// <see cref="PciHostBridge.Attach"/>).</summary>
    internal void Register(int slot, PciDevice device)
    {
        _devices[slot] = device;
    }

    public void SetIntx(PciDevice device, bool asserted)
    {
        int slot = Array.IndexOf(_devices, device);
        if (slot < 0 || device.Ids.InterruptPin == 0) return;
        uint gsi = GsiFor(slot, device.Ids.InterruptPin);
        if (asserted)
        {
            if (_assertedCount[gsi]++ == 0) _irqchip.Raise(gsi);
        }
        else if (_assertedCount[gsi] > 0 && --_assertedCount[gsi] == 0)
        {
            _irqchip.Lower(gsi);
        }
    }
}
