using System.Buffers.Binary;
using Sim.Engine;
using Sim.Machine.Kvm;
using Sim.Spec.Pci;

namespace Sim.Devices.Pci;

/// <summary>
/// A host bridge with configuration mechanism #1 (PCI Local Bus 3.0 §3.2.2.3.2), registered on
/// the PIO bus at <see cref="ConfigAddressPort"/> with <see cref="PortCount"/> ports: offsets 0-3
/// are CONFIG_ADDRESS (0xCF8), offsets 4-7 CONFIG_DATA (0xCFC-0xCFF). Devices sit on bus 0, slot
/// 0..31, function 0. Guest-controlled; never throws.
/// </summary>
/// <remarks>
/// CONFIG_ADDRESS: bit 31 enable, bits 30:24 reserved (read 0), 23:16 bus, 15:11 device,
/// 10:8 function, 7:2 register (dword), 1:0 read 0. Only a 32-bit access at 0xCF8 reaches it
/// (PCI 3.0: "anything but a DWORD I/O access to 0xCF8 passes through" — QEMU pci_host_config_write
/// likewise ignores other sizes); other reads of 0xCF8-0xCFB return all-ones here (nothing else
/// is modelled at those ports). CONFIG_DATA: an access at 0xCFC + n reads or writes byte lane n of
/// the selected dword, so the config offset is register + n (QEMU pci_host_data_read:
/// config_reg | (addr &amp; 3)). Bytes of an access that run past 0xCFF read all-ones and are not
/// written: the model never lets an access spill into the next dword. With the enable bit clear,
/// or for an empty slot, another bus or a nonzero function, reads return all-ones (so vendor
/// 0xFFFF: "no device") and writes are dropped (master abort).
/// </remarks>
public sealed class PciHostBridge : IBusDevice
{
    /// <summary>First port of CONFIG_ADDRESS.</summary>
    public const ushort ConfigAddressPort = PciConfigMechanism.ConfigAddressPort;

    /// <summary>First port of CONFIG_DATA.</summary>
    public const ushort ConfigDataPort = PciConfigMechanism.ConfigDataPort;

    /// <summary>Ports the bridge decodes starting at <see cref="ConfigAddressPort"/>.</summary>
    public const int PortCount = 8;

    /// <summary>Device numbers on bus 0 (5 bits).</summary>
    public const int SlotCount = PciConfigMechanism.SlotCount;

    /// <summary>CONFIG_ADDRESS bit 31: configuration cycles enabled.</summary>
    public const uint ConfigAddressEnable = PciConfigMechanism.ConfigAddressEnable;

    /// <summary>CONFIG_ADDRESS bits that hold state (enable, bus, device, function, register); the rest read
    /// 0.</summary>
    public const uint ConfigAddressWritable = ConfigAddressEnable | 0x00FF_FFFCu;

    private readonly PciDevice?[] _slots = new PciDevice?[SlotCount];
    private readonly IPciBarHost _barHost;
    private readonly PciIntxRouter? _intx;
    private uint _configAddress;

    /// <param name="barHost">Where attached devices' BARs are mapped.</param>
    /// <param name="intx">Where attached devices' INTx# pins are wired (null: nowhere).</param>
    public PciHostBridge(IPciBarHost barHost, PciIntxRouter? intx = null)
    {
        ArgumentNullException.ThrowIfNull(barHost);
        _barHost = barHost;
        _intx = intx;
    }

    /// <summary>The INTx router given at construction, if any.</summary>
    public PciIntxRouter? Intx => _intx;

    /// <summary>The latched CONFIG_ADDRESS register.</summary>
    public uint ConfigAddress => _configAddress;

    /// <summary>The device in <paramref name="slot"/> (function 0), or null.</summary>
    public PciDevice? GetDevice(int slot) => Narrow.AsUInt32Bits(slot) < SlotCount ? _slots[slot] : null;

    /// <summary>Plugs <paramref name="device"/> into bus 0 slot <paramref name="slot"/> function 0
    /// and connects its BARs to the bridge's address spaces.</summary>
    public void Attach(int slot, PciDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (Narrow.AsUInt32Bits(slot) >= SlotCount)
            throw new ArgumentOutOfRangeException(nameof(slot), "slot must be 0..31");
        if (_slots[slot] != null)
            throw new InvalidOperationException($"slot {slot} is occupied");
        device.Connect(_barHost);
        _slots[slot] = device;
        if (_intx != null)
        {
            _intx.Register(slot, device);
            device.IntxSink = _intx;
        }
    }

    /// <summary>Resets every attached device (system reset), in slot order.</summary>
    public void Reset()
    {
        _configAddress = 0;
        foreach (PciDevice? d in _slots)
            d?.Reset();
    }

    /// <inheritdoc/>
    public void Read(BusKind bus, ulong offset, Span<byte> data)
    {
        if (bus != BusKind.Pio || offset >= PortCount)
        {
            data.Fill(0xFF);
            return;
        }
        if (offset < 4)
        {
            if (offset == 0 && data.Length == 4)
                BinaryPrimitives.WriteUInt32LittleEndian(data, _configAddress);
            else
                data.Fill(0xFF);
            return;
        }
        int lane = Narrow.LowInt32(offset) - 4;
        data.Fill(0xFF);
        int inLane = Math.Min(data.Length, 4 - lane);
        if (inLane <= 0 || !TrySelect(out PciDevice? device, out int register))
            return;
        device.ConfigRead(register + lane, data[..inLane]);
    }

    /// <inheritdoc/>
    public void Write(BusKind bus, ulong offset, ReadOnlySpan<byte> data)
    {
        if (bus != BusKind.Pio || offset >= PortCount)
            return;
        if (offset < 4)
        {
            if (offset == 0 && data.Length == 4)
                _configAddress = BinaryPrimitives.ReadUInt32LittleEndian(data) & ConfigAddressWritable;
            return;
        }
        int lane = Narrow.LowInt32(offset) - 4;
        int inLane = Math.Min(data.Length, 4 - lane);
        if (inLane <= 0 || !TrySelect(out PciDevice? device, out int register))
            return;
        device.ConfigWrite(register + lane, data[..inLane]);
    }

    private bool TrySelect([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PciDevice? device, out int register)
    {
        uint a = _configAddress;
        register = Narrow.AsInt32Bits(a & 0xFC);
        device = null;
        if ((a & ConfigAddressEnable) == 0)
            return false;
        uint busNumber = (a >> 16) & 0xFF;
        uint slot = (a >> 11) & 0x1F;
        uint function = (a >> 8) & 0x7;
        if (busNumber != 0 || function != 0)
            return false;
        device = _slots[slot];
        return device != null;
    }
}
