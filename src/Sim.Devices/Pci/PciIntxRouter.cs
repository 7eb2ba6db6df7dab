using Sim.Engine;
using Sim.Machine.Kvm;

namespace Sim.Devices.Pci;

/// <summary>
/// Routes INTx# pins of bus-0 devices to level-triggered GSIs of the in-kernel irqchip as a PC does:
/// a rotating swizzle picks PIRQ[(slot + pin - 1) mod 4] (pin 1..4), and the firmware's PIRQ routing maps
/// PIRQ A..D to <see cref="DefaultPirqGsis"/> (SeaBIOS's pci_irqs: 10, 10, 11, 11).
/// Lines are wired-OR: a GSI stays asserted while any device on it asserts its pin.
/// Known difference: QEMU's PIIX3 (pci_slot_get_pirq: <c>(intx0 + slot - 1) &amp; 3</c>, intx0 = pin - 1) and
/// SeaBIOS's piix_pci_slot_get_irq rotate one PIRQ further, (slot + pin - 2) mod 4. Our guests' firmware routine
/// (guest/rt/pci.c pci_intx_gsi) uses the same rotation as this class, so every guest finds its interrupt; moving
/// both to QEMU's rotation changes the GSI of half the slots (INTA# of an even slot), and the recorded traces
/// (traces/kvm, traces/kvm-lab) would have to be recorded again.
/// </summary>
public sealed class PciIntxRouter : IPciIntxSink
{
    /// <summary>GSIs of PIRQ A, B, C, D after SeaBIOS programs the PIIX3 routing registers.</summary>
    public static readonly uint[] DefaultPirqGsis = [10, 10, 11, 11];

    private readonly InterruptController _irqchip;
    private readonly uint[] _pirqGsis;
    private readonly PciDevice?[] _devices = new PciDevice?[PciHostBridge.SlotCount];
    private readonly int[] _assertedCount = new int[InterruptController.GsiMax];

    /// <summary>A router raising lines of <paramref name="irqchip"/>; <paramref name="pirqGsis"/> maps PIRQ A..D
    /// (default <see cref="DefaultPirqGsis"/>) and those GSIs become level-triggered.</summary>
    public PciIntxRouter(InterruptController irqchip, uint[]? pirqGsis = null)
    {
        ArgumentNullException.ThrowIfNull(irqchip);
        pirqGsis ??= DefaultPirqGsis;
        if (pirqGsis.Length != 4)
            throw new ArgumentException("four PIRQ lines (A..D)", nameof(pirqGsis));
        foreach (uint gsi in pirqGsis)
        {
            if (!InterruptController.IsValidGsi(gsi))
                throw new ArgumentOutOfRangeException(nameof(pirqGsis), gsi, "not a GSI");
            irqchip.SetLevelTriggered(gsi, true);
        }
        _irqchip = irqchip;
        _pirqGsis = (uint[])pirqGsis.Clone();
    }

    /// <summary>The GSI that <paramref name="pin"/> (1..4) of the device in <paramref name="slot"/> reaches.</summary>
    public uint GsiFor(int slot, int pin)
    {
        if (Narrow.AsUInt32Bits(slot) >= PciHostBridge.SlotCount)
            throw new ArgumentOutOfRangeException(nameof(slot));
        if (pin is < 1 or > 4)
            throw new ArgumentOutOfRangeException(nameof(pin), "INTA#..INTD# are pins 1..4");
        return _pirqGsis[(slot + pin - 1) & 3];
    }

    /// <summary>Records which slot <paramref name="device"/> occupies (done by
    /// <see cref="PciHostBridge.Attach"/>).</summary>
    internal void Register(int slot, PciDevice device)
    {
        _devices[slot] = device;
    }

    /// <inheritdoc/>
    public void SetIntx(PciDevice device, bool asserted)
    {
        int slot = Array.IndexOf(_devices, device);
        if (slot < 0 || device.Ids.InterruptPin == 0)
            return;
        uint gsi = GsiFor(slot, device.Ids.InterruptPin);
        if (asserted)
        {
            if (_assertedCount[gsi]++ == 0)
                _irqchip.Raise(gsi);
        }
        else if (_assertedCount[gsi] > 0 && --_assertedCount[gsi] == 0)
        {
            _irqchip.Lower(gsi);
        }
    }
}
