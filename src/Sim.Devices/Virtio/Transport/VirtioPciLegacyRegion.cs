using Sim.Devices.Pci;
using Sim.Engine;
using Sim.Machine.Kvm;

namespace Sim.Devices.Virtio.Transport;

/// <summary>
/// The legacy I/O BAR (VIRTIO 1.2 §4.1.4.8; QEMU virtio_pci_config_ops, little-endian, implemented
/// sizes 1..4). Below the device-config offset (20, or 24 while MSI-X is enabled) registers are
/// matched by their exact offset and the value is truncated to the access (QEMU virtio_ioport_read/
/// write switch on the address, ignoring the size); unknown offsets read all-ones. Above it, the
/// bytes are the device configuration.
/// </summary>
internal sealed class VirtioPciLegacyRegion : IBusDevice
{
    private readonly VirtioPciTransport _transport;

    public VirtioPciLegacyRegion(VirtioPciTransport transport) => _transport = transport;

    public void Read(BusKind bus, ulong offset, Span<byte> data)
    {
        ulong address = offset;
        while (!data.IsEmpty)
        {
            int piece = QemuAccessSplit.PieceSize(address, data.Length);
            Span<byte> part = data[..piece];
            int configOffset = _transport.LegacyConfigOffset;
            if (address < Narrow.AsUInt64Bits(configOffset))
                VirtioPciModernRegion.Store(part, _transport.ReadLegacy(Narrow.LowInt32(address)));
            else if (address - Narrow.AsUInt64Bits(configOffset) < VirtioDevice.ConfigSizeMax)
                _transport.Device.ConfigRead(unchecked((int)(address - (ulong)configOffset)), part);
            else
                part.Fill(0xFF);
            data = data[piece..];
            address = unchecked(address + (ulong)piece);
        }
    }

    public void Write(BusKind bus, ulong offset, ReadOnlySpan<byte> data)
    {
        ulong address = offset;
        while (!data.IsEmpty)
        {
            int piece = QemuAccessSplit.PieceSize(address, data.Length);
            ReadOnlySpan<byte> part = data[..piece];
            int configOffset = _transport.LegacyConfigOffset;
            if (address < Narrow.AsUInt64Bits(configOffset))
                _transport.WriteLegacy(Narrow.LowInt32(address), VirtioPciModernRegion.Load(part));
            else if (address - Narrow.AsUInt64Bits(configOffset) < VirtioDevice.ConfigSizeMax)
                _transport.Device.ConfigWrite(unchecked((int)(address - (ulong)configOffset)), part);
            data = data[piece..];
            address = unchecked(address + (ulong)piece);
        }
    }
}
