using System.Buffers.Binary;
using Sim.Devices.Pci;
using Sim.Engine;
using Sim.Machine.Kvm;
using Sim.Spec.Virtio;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Sim.Devices.Virtio.Transport;

/// <summary>
/// The modern BAR (QEMU's "virtio-pci" container with four subregions, all DEVICE_LITTLE_ENDIAN with
/// implemented access sizes 1..4): common configuration, ISR, device configuration and notify, each
/// 4 KiB. An access is first split as QEMU's memory core does (<see cref="QemuAccessSplit"/>); each
/// piece goes to the subregion holding it.
/// </summary>
internal sealed class VirtioPciModernRegion : IBusDevice
{
    private readonly VirtioPciTransport _transport;

    public VirtioPciModernRegion(VirtioPciTransport transport) => _transport = transport;

    public void Read(BusKind bus, ulong offset, Span<byte> data)
    {
        ulong address = offset;
        while (!data.IsEmpty)
        {
            int piece = QemuAccessSplit.PieceSize(address, data.Length);
            ReadPiece(address, data[..piece]);
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
            WritePiece(address, data[..piece]);
            data = data[piece..];
            address = unchecked(address + (ulong)piece);
        }
    }

    private void ReadPiece(ulong address, Span<byte> part)
    {
        if (address >= L.ModernBarSize)
        {
            part.Fill(0xFF);
            return;
        }
        int within = Narrow.LowInt32(address % L.ModernRegionSize);
        switch (Narrow.LowInt32(address) - within)
        {
            case L.ModernCommonOffset:
                Store(part, _transport.ReadCommon(within));
                break;
            case L.ModernIsrOffset:
                Store(part, _transport.ReadIsrRegion(within));
                break;
            case L.ModernDeviceOffset:
                _transport.Device.ConfigRead(within, part);
                break;
            default:
                part.Clear(); // QEMU virtio_pci_notify_read returns 0
                break;
        }
    }

    private void WritePiece(ulong address, ReadOnlySpan<byte> part)
    {
        if (address >= L.ModernBarSize)
            return;
        int within = Narrow.LowInt32(address % L.ModernRegionSize);
        switch (Narrow.LowInt32(address) - within)
        {
            case L.ModernCommonOffset:
                _transport.WriteCommon(within, Load(part));
                break;
            case L.ModernDeviceOffset:
                _transport.Device.ConfigWrite(within, part);
                break;
            case L.ModernNotifyOffset:
                // QEMU virtio_pci_notify_write: the queue is the offset over the multiplier; the value is ignored.
                _transport.NotifyFromGuest(within / L.NotifyOffMultiplier);
                break;
            default:
                break; // ISR is read-only
        }
    }

    /// <summary>The register value truncated to the piece, little-endian (QEMU: the ops return a uint64
    /// and the core keeps the low 'size' bytes).</summary>
    internal static void Store(Span<byte> part, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        b[..part.Length].CopyTo(part);
    }

    internal static uint Load(ReadOnlySpan<byte> part)
    {
        Span<byte> b = stackalloc byte[4];
        b.Clear();
        part.CopyTo(b);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }
}
