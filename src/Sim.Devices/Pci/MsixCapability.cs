using System.Buffers.Binary;
using System.Numerics;
using Sim.Engine;
using Sim.Machine.Kvm;
using Sim.Spec.Pci;

namespace Sim.Devices.Pci;

/// <summary>
/// MSI-X (PCI 3.0 §6.8.2) with its table and Pending Bit Array in one exclusive memory BAR, laid out
/// as QEMU's msix_init_exclusive_bar does: table at offset 0, PBA at half the (at least 4 KiB) BAR,
/// or right after the table when that does not fit. The capability (id, next, message control,
/// table offset/BIR, PBA offset/BIR) lives in config space; only message control's enable (bit 15)
/// and function mask (bit 14) are guest-writable. Every vector starts masked. A vector that fires
/// while masked (per-vector mask, function mask, or MSI-X disabled) sets its pending bit and is sent
/// when it becomes unmasked (QEMU msix_notify / msix_handle_mask_update).
/// </summary>
/// <remarks>Table and PBA accesses follow QEMU's msix_table_mmio_ops (valid sizes 4..8, implemented as
/// 4): an access is first split into naturally aligned pieces of at most 8 bytes (memory_access_size),
/// an 8-byte piece is two dword accesses, and a piece narrower than 4 bytes is invalid (reads 0,
/// write dropped: QEMU's unassigned access). The PBA is read-only.</remarks>
public sealed class MsixCapability : IBusDevice
{
    /// <summary>Bytes of the capability structure: id + next + control (le16) + table (le32) + PBA (le32).</summary>
    public const int CapabilityLength = 12;

    /// <summary>Offset of message control in the capability.</summary>
    public const int ControlOffset = MsixSpec.ControlOffset;

    /// <summary>Offset of the table offset/BIR dword in the capability.</summary>
    public const int TableOffsetOffset = MsixSpec.TableOffsetOffset;

    /// <summary>Offset of the PBA offset/BIR dword in the capability.</summary>
    public const int PbaOffsetOffset = 8;

    /// <summary>Message control bit 15: MSI-X enable.</summary>
    public const ushort ControlEnable = MsixSpec.ControlEnable;

    /// <summary>Message control bit 14: function mask.</summary>
    public const ushort ControlFunctionMask = MsixSpec.ControlFunctionMask;

    /// <summary>One table entry: address low (le32) + address high (le32) + data (le32) + vector control
    /// (le32).</summary>
    public const int EntrySize = MsixSpec.EntrySize;

    /// <summary>Offset of vector control in an entry; bit 0 is the per-vector mask.</summary>
    public const int EntryVectorControl = MsixSpec.EntryVectorControl;

    /// <summary>Most vectors (PCI 3.0: table size field is 11 bits, N-1 encoded).</summary>
    public const int VectorsMax = 2048;

    /// <summary>Smallest exclusive MSI-X BAR (QEMU msix_init_exclusive_bar: one page).</summary>
    public const ulong BarSizeMin = 4096;

    private readonly PciConfigSpace _config;
    private readonly byte[] _table;
    private readonly byte[] _pba;
    private readonly IMsixDelivery _delivery;

    internal MsixCapability(
        PciConfigSpace config,
        int capabilityOffset,
        int vectors,
        int barIndex,
        IMsixDelivery delivery
    )
    {
        ArgumentNullException.ThrowIfNull(delivery);
        if (vectors < 1 || vectors > VectorsMax)
            throw new ArgumentOutOfRangeException(nameof(vectors), $"MSI-X needs 1..{VectorsMax} vectors");
        _config = config;
        _delivery = delivery;
        CapabilityOffset = capabilityOffset;
        VectorCount = vectors;
        BarIndex = barIndex;
        _table = new byte[vectors * EntrySize];
        _pba = new byte[((vectors + 63) / 64) * 8];

        ulong tableSize = Narrow.AsUInt64Bits(_table.Length);
        ulong pbaSize = Narrow.AsUInt64Bits(_pba.Length);
        ulong barSize = BarSizeMin;
        ulong pbaOffset = barSize / 2;
        if (pbaOffset + pbaSize > BarSizeMin)
            pbaOffset = tableSize;
        if (pbaOffset + pbaSize > barSize)
            barSize = BitOperations.RoundUpToPowerOf2(pbaOffset + pbaSize);
        PbaOffset = pbaOffset;
        BarSize = barSize;

        config.SetUInt16(capabilityOffset + ControlOffset, unchecked((ushort)(vectors - 1)));
        config.SetUInt32(capabilityOffset + TableOffsetOffset, Narrow.AsUInt32Bits(barIndex));
        config.SetUInt32(
            capabilityOffset + PbaOffsetOffset,
            Narrow.LowUInt32(pbaOffset) | Narrow.AsUInt32Bits(barIndex)
        );
        config.SetWriteMask16(capabilityOffset + ControlOffset, ControlEnable | ControlFunctionMask);
        MaskAll();
    }

    /// <summary>Config-space offset of the capability.</summary>
    public int CapabilityOffset { get; }

    /// <summary>Table entries (vectors), 1..2048.</summary>
    public int VectorCount { get; }

    /// <summary>The BAR holding table and PBA.</summary>
    public int BarIndex { get; }

    /// <summary>Size of that BAR.</summary>
    public ulong BarSize { get; }

    /// <summary>Offset of the table in the BAR (always 0).</summary>
    public ulong TableOffset => 0;

    /// <summary>Offset of the PBA in the BAR.</summary>
    public ulong PbaOffset { get; }

    /// <summary>Message control bit 15.</summary>
    public bool Enabled => (Control & ControlEnable) != 0;

    /// <summary>Message control bit 14.</summary>
    public bool FunctionMasked => (Control & ControlFunctionMask) != 0;

    /// <summary>Messages sent so far.</summary>
    public long Delivered { get; private set; }

    private ushort Control => _config.GetUInt16(CapabilityOffset + ControlOffset);

    /// <summary>True when <paramref name="vector"/> cannot be sent now (out of range, MSI-X disabled,
    /// function masked, or its own mask bit set).</summary>
    public bool IsMasked(int vector)
    {
        if (Narrow.AsUInt32Bits(vector) >= Narrow.AsUInt32Bits(VectorCount))
            return true;
        return !Enabled || FunctionMasked || (_table[(vector * EntrySize) + EntryVectorControl] & 1) != 0;
    }

    /// <summary>The vector's pending bit.</summary>
    public bool IsPending(int vector) =>
        Narrow.AsUInt32Bits(vector) < Narrow.AsUInt32Bits(VectorCount) && (_pba[vector / 8] & (1 << (vector % 8))) != 0;

    /// <summary>The message currently programmed for <paramref name="vector"/>.</summary>
    public MsiMessage GetMessage(int vector)
    {
        if (Narrow.AsUInt32Bits(vector) >= Narrow.AsUInt32Bits(VectorCount))
            return default;
        ReadOnlySpan<byte> e = _table.AsSpan(vector * EntrySize, EntrySize);
        ulong address = BinaryPrimitives.ReadUInt64LittleEndian(e);
        return new MsiMessage(address, BinaryPrimitives.ReadUInt32LittleEndian(e[8..]));
    }

    /// <summary>QEMU msix_notify: sends the vector, or marks it pending while it is masked. A vector
    /// outside the table is ignored.</summary>
    public void Notify(int vector)
    {
        if (Narrow.AsUInt32Bits(vector) >= Narrow.AsUInt32Bits(VectorCount))
            return;
        if (IsMasked(vector))
        {
            _pba[vector / 8] |= Narrow.LowByte(1 << (vector % 8));
            return;
        }
        Send(vector);
    }

    /// <summary>QEMU msix_reset: MSI-X disabled, function unmasked, table cleared with every vector
    /// masked, nothing pending.</summary>
    public void Reset()
    {
        _config.SetUInt16(CapabilityOffset + ControlOffset, unchecked((ushort)(VectorCount - 1)));
        Array.Clear(_table);
        Array.Clear(_pba);
        MaskAll();
    }

    /// <summary>Message control changed: send vectors that are pending and now unmasked, in vector order.</summary>
    internal void OnControlWritten()
    {
        for (int v = 0; v < VectorCount; v++)
            SendIfPendingAndUnmasked(v);
    }

    /// <inheritdoc/>
    public void Read(BusKind bus, ulong offset, Span<byte> data)
    {
        ulong address = offset;
        while (!data.IsEmpty)
        {
            int piece = QemuAccessSplit.PieceSize(address, data.Length, 8);
            Span<byte> part = data[..piece];
            if (piece < 4)
            {
                part.Clear();
            }
            else
            {
                for (int i = 0; i < piece; i += 4)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(part[i..], ReadDword(address + Narrow.AsUInt64Bits(i)));
                }
            }
            data = data[piece..];
            address = unchecked(address + (ulong)piece);
        }
    }

    /// <inheritdoc/>
    public void Write(BusKind bus, ulong offset, ReadOnlySpan<byte> data)
    {
        ulong address = offset;
        while (!data.IsEmpty)
        {
            int piece = QemuAccessSplit.PieceSize(address, data.Length, 8);
            if (piece >= 4)
            {
                for (int i = 0; i < piece; i += 4)
                {
                    WriteDword(address + Narrow.AsUInt64Bits(i), BinaryPrimitives.ReadUInt32LittleEndian(data[i..]));
                }
            }
            data = data[piece..];
            address = unchecked(address + (ulong)piece);
        }
    }

    private uint ReadDword(ulong offset)
    {
        if (offset <= Narrow.AsUInt64Bits(_table.Length) - 4)
            return BinaryPrimitives.ReadUInt32LittleEndian(_table.AsSpan(Narrow.LowInt32(offset)));
        if (offset >= PbaOffset && offset - PbaOffset <= Narrow.AsUInt64Bits(_pba.Length) - 4)
        {
            return BinaryPrimitives.ReadUInt32LittleEndian(_pba.AsSpan(unchecked((int)(offset - PbaOffset))));
        }
        return 0;
    }

    private void WriteDword(ulong offset, uint value)
    {
        if (offset > Narrow.AsUInt64Bits(_table.Length) - 4)
            return; // PBA and the gap are read-only
        BinaryPrimitives.WriteUInt32LittleEndian(_table.AsSpan(Narrow.LowInt32(offset)), value);
        // QEMU msix_table_mmio_write → msix_handle_mask_update: unmasking a pending vector sends it.
        SendIfPendingAndUnmasked(Narrow.LowInt32(offset / EntrySize));
    }

    private void SendIfPendingAndUnmasked(int vector)
    {
        if (!IsPending(vector) || IsMasked(vector))
            return;
        _pba[vector / 8] &= Narrow.LowByte(~(1 << (vector % 8))); // clear one bit
        Send(vector);
    }

    private void Send(int vector)
    {
        Delivered++;
        _delivery.DeliverMsix(vector, GetMessage(vector));
    }

    private void MaskAll()
    {
        for (int v = 0; v < VectorCount; v++)
            _table[(v * EntrySize) + EntryVectorControl] = 1;
    }
}
