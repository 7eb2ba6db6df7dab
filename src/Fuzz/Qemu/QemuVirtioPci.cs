using System.Globalization;
using Sim.Engine;
using Sim.Spec.Pci;
using Sim.Spec.Virtio;
using L = Sim.Spec.Virtio.VirtioPciLayout;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// The driver's view of a modern virtio-pci function inside QEMU, through qtest: PCI enumeration with configuration
/// mechanism #1 (<c>outl 0xcf8</c>/<c>inl 0xcfc</c>) over bus 0, the vendor capabilities (VIRTIO 1.2 §4.1.4) that
/// locate the common, notify, ISR and device regions, the modern BAR programmed at <see cref="BarAddress"/> (inside
/// the PC's 32-bit PCI hole, above the 128 MiB of RAM), memory decoding and bus mastering on. Register accesses
/// afterwards are qtest <c>read*</c>/<c>write*</c> at the mapped addresses.
/// </summary>
internal sealed class QemuVirtioPci
{
    public const ushort ConfigAddressPort = 0xCF8;
    public const ushort ConfigDataPort = 0xCFC;
    public const uint ConfigAddressEnable = 0x8000_0000;
    public const ulong BarAddress = 0xE000_0000;
    public const int SlotsMax = 32;
    public const int CapabilitiesMax = 48;
    public const byte CapVendorSpecific = 0x09;

    private readonly QtestClient _qtest;

    private QemuVirtioPci(QtestClient qtest, int slot)
    {
        _qtest = qtest;
        Slot = slot;
    }

    public int Slot { get; }

    public ulong CommonAddress { get; private set; }

    public ulong NotifyBase { get; private set; }

    public uint NotifyMultiplier { get; private set; }

    public ulong IsrAddress { get; private set; }

    public ulong DeviceAddress { get; private set; }

    /// <summary>Finds virtio device <paramref name="virtioId"/> (modern PCI id 0x1040 + id) on bus 0 and maps
    /// it.</summary>
    public static QemuVirtioPci Discover(QtestClient qtest, ushort virtioId)
    {
        uint wanted = ((uint)(L.ModernDeviceIdBase + virtioId) << 16) | L.VendorId;
        for (int slot = 0; slot < SlotsMax; slot++)
        {
            var pci = new QemuVirtioPci(qtest, slot);
            if (pci.ConfigRead(R.VendorId) != wanted)
                continue;
            pci.Map();
            return pci;
        }
        throw new InvalidOperationException($"no virtio device {wanted >> 16:x4} on PCI bus 0");
    }

    public uint ConfigRead(int register)
    {
        _qtest.Outl(ConfigAddressPort, Address(register));
        return _qtest.Inl(ConfigDataPort);
    }

    public void ConfigWrite(int register, uint value)
    {
        _qtest.Outl(ConfigAddressPort, Address(register));
        _qtest.Outl(ConfigDataPort, value);
    }

    private uint Address(int register) => ConfigAddressEnable | ((uint)Slot << 11) | (uint)(register & 0xFC);

    private void Map()
    {
        ulong[] regionBar = new ulong[5];
        uint[] regionOffset = new uint[5];
        int cap = (int)(ConfigRead(R.CapabilitiesPointer) & 0xFC);
        for (int n = 0; cap != 0 && n < CapabilitiesMax; n++)
        {
            uint head = ConfigRead(cap);
            byte type = Narrow.LowByte(head >> 24);
            if ((head & 0xFF) == CapVendorSpecific && type is >= L.CapCommonCfg and <= L.CapDeviceCfg)
            {
                regionBar[type] = ConfigRead(cap + L.CapBarOffset) & 0xFF;
                regionOffset[type] = ConfigRead(cap + L.CapOffsetOffset);
                if (type == L.CapNotifyCfg)
                    NotifyMultiplier = ConfigRead(cap + L.CapNotifyMultiplierOffset);
            }
            cap = (int)((head >> 8) & 0xFC);
        }
        int bar = (int)regionBar[L.CapCommonCfg];
        ConfigWrite(R.Bar0 + (4 * bar), (uint)BarAddress);
        ConfigWrite(R.Bar0 + (4 * bar) + 4, (uint)(BarAddress >> 32));
        ConfigWrite(R.Command, R.CommandMemorySpace | R.CommandBusMaster);
        _qtest.Sync();
        CommonAddress = BarAddress + regionOffset[L.CapCommonCfg];
        NotifyBase = BarAddress + regionOffset[L.CapNotifyCfg];
        IsrAddress = BarAddress + regionOffset[L.CapIsrCfg];
        DeviceAddress = BarAddress + regionOffset[L.CapDeviceCfg];
    }

    public void CommonWrite(int offset, int size, ulong value) =>
        _qtest.Write(CommonAddress + (ulong)offset, size, value);

    public ulong CommonRead(int offset, int size) => _qtest.Read(CommonAddress + (ulong)offset, size);

    /// <summary>Queue 0's doorbell: queue_notify_off (read at set-up) × the multiplier.</summary>
    public ulong NotifyAddress(ushort queueNotifyOff) => NotifyBase + ((ulong)queueNotifyOff * NotifyMultiplier);

    public override string ToString() =>
        string.Create(
            CultureInfo.InvariantCulture,
            $"slot {Slot}: common 0x{CommonAddress:x}, notify 0x{NotifyBase:x}×{NotifyMultiplier}, isr "
                + $"0x{IsrAddress:x}, device 0x{DeviceAddress:x}"
        );
}
