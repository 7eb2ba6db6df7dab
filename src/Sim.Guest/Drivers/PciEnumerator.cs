using Sim.Engine;
using Sim.Machine.Kvm;
using Sim.Spec.Pci;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Sim.Guest.Drivers;

/// <summary>
/// Guest-side PCI enumeration on bus 0 (what the firmware and Linux's pci_scan_bus do): probe each
/// slot's vendor id through 0xCF8/0xCFC, and for a match read the identity, size every BAR
/// (write all-ones, read back, restore: Linux __pci_read_base), and program addresses from
/// <see cref="PciResourceWindows"/> as the firmware would, then record the INTx routing in the
/// interrupt line register. Decoding is not enabled here: the driver does that
/// (<see cref="GuestPciFunction.Enable"/>).
/// </summary>
public static class PciEnumerator
{
    /// <summary>Vendor id read from an empty slot.</summary>
    public const ushort NoVendor = 0xFFFF;

    /// <summary>Scans slots 0..31 in order for the first function whose (vendor, device) satisfies
    /// <paramref name="match"/>; false when none does.</summary>
    public static bool TryFind(
        GuestContext guest,
        Func<ushort, ushort, bool> match,
        out int slot,
        out ushort vendorId,
        out ushort deviceId
    )
    {
        ArgumentNullException.ThrowIfNull(guest);
        ArgumentNullException.ThrowIfNull(match);
        for (slot = 0; slot < PciConfigMechanism.SlotCount; slot++)
        {
            uint id = PciConfigPorts.Read(guest, slot, R.VendorId, 4);
            vendorId = Narrow.LowUInt16(id); // low half: vendor id
            deviceId = Narrow.LowUInt16(id >> 16);
            if (vendorId != NoVendor && match(vendorId, deviceId))
                return true;
        }
        slot = -1;
        vendorId = 0;
        deviceId = 0;
        return false;
    }

    /// <summary>Finds the first function with exactly <paramref name="vendorId"/>:<paramref name="deviceId"/>
    /// and sets it up (<see cref="Setup"/>); null when absent.</summary>
    public static GuestPciFunction? Find(
        GuestContext guest,
        ushort vendorId,
        ushort deviceId,
        PciResourceWindows windows,
        Func<int, int, uint>? intxGsi = null
    )
    {
        if (!TryFind(guest, (v, d) => v == vendorId && d == deviceId, out int slot, out _, out _))
            return null;
        return Setup(guest, slot, windows, intxGsi);
    }

    /// <summary>Reads the identity of the function in <paramref name="slot"/>, sizes and programs its
    /// BARs, and writes its interrupt line (<paramref name="intxGsi"/>(slot, pin), the firmware's PIRQ
    /// routing; none → 0xFF). A BAR that does not fit the windows is left unprogrammed (absent).</summary>
    public static GuestPciFunction Setup(
        GuestContext guest,
        int slot,
        PciResourceWindows windows,
        Func<int, int, uint>? intxGsi = null
    )
    {
        ArgumentNullException.ThrowIfNull(guest);
        ArgumentNullException.ThrowIfNull(windows);
        uint id = PciConfigPorts.Read(guest, slot, R.VendorId, 4);
        var fn = new GuestPciFunction(guest, slot, Narrow.LowUInt16(id), Narrow.LowUInt16(id >> 16))
        {
            Revision = Narrow.LowByte(PciConfigPorts.Read(guest, slot, R.RevisionId, 1)),
        };
        uint subsystem = PciConfigPorts.Read(guest, slot, R.SubsystemVendorId, 4);
        fn.SubsystemVendorId = Narrow.LowUInt16(subsystem);
        fn.SubsystemId = Narrow.LowUInt16(subsystem >> 16);
        fn.InterruptPin = Narrow.LowByte(PciConfigPorts.Read(guest, slot, R.InterruptPin, 1));
        byte line = 0xFF;
        if (fn.InterruptPin is >= 1 and <= 4 && intxGsi != null)
            line = Narrow.LowByte(intxGsi(slot, fn.InterruptPin));
        PciConfigPorts.Write(guest, slot, R.InterruptLine, 1, line);
        fn.InterruptLine = line;
        SizeAndProgramBars(guest, slot, fn, windows);
        return fn;
    }

    /// <summary>Sizes each BAR (write all ones, read back, restore) and programs those that fit the windows, with
    /// decoding off meanwhile.</summary>
    private static void SizeAndProgramBars(
        GuestContext guest,
        int slot,
        GuestPciFunction fn,
        PciResourceWindows windows
    )
    {
        // Sizing with decoding off, as Linux does (pci_read_bases with PCI_COMMAND_MEMORY/IO cleared).
        ushort command = Narrow.LowUInt16(PciConfigPorts.Read(guest, slot, R.Command, 2));
        PciConfigPorts.Write(
            guest,
            slot,
            R.Command,
            2,
            Narrow.AsUInt32Bits(command & ~(R.CommandIoSpace | R.CommandMemorySpace))
        );
        for (int i = 0; i < R.BarCount; i++)
        {
            int reg = R.Bar0 + (4 * i);
            uint probe = ProbeBar(guest, slot, reg);
            if (probe == 0)
                continue;
            bool io = (probe & R.BarSpaceIo) != 0;
            bool is64 = !io && (probe & 0x6) == R.BarMemoryType64;
            ulong bits = io ? probe & ~R.BarIoFlagsMask & 0xFFFF : probe & ~R.BarMemoryFlagsMask;
            if (is64 && i + 1 < R.BarCount)
                bits |= (ulong)ProbeBar(guest, slot, reg + 4) << 32;
            // Linux pci_size: the size is the lowest writable address bit.
            ulong size = bits & unchecked(~bits + 1);
            if (size == 0)
            {
                if (is64)
                    i++;
                continue;
            }
            if (windows.TryAllocate(io, size, out ulong address))
            {
                PciConfigPorts.Write(guest, slot, reg, 4, Narrow.LowUInt32(address) | (io ? R.BarSpaceIo : 0));
                if (is64)
                    PciConfigPorts.Write(guest, slot, reg + 4, 4, Narrow.LowUInt32(address >> 32));
                PciBarKind kind =
                    io ? PciBarKind.Io
                    : is64 ? PciBarKind.Memory64
                    : PciBarKind.Memory32;
                fn.SetBar(new PciBarAssignment(i, kind, address, size, !io && (probe & R.BarMemoryPrefetchable) != 0));
            }
            if (is64)
                i++;
        }
        PciConfigPorts.Write(guest, slot, R.Command, 2, command);
    }

    /// <summary>The BAR register's value after writing all ones (its writable bits), the register restored
    /// after.</summary>
    private static uint ProbeBar(GuestContext guest, int slot, int reg)
    {
        uint original = PciConfigPorts.Read(guest, slot, reg, 4);
        PciConfigPorts.Write(guest, slot, reg, 4, uint.MaxValue);
        uint probe = PciConfigPorts.Read(guest, slot, reg, 4);
        PciConfigPorts.Write(guest, slot, reg, 4, original);
        return probe;
    }
}
