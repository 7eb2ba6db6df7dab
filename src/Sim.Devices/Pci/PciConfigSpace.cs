using System.Buffers.Binary;
using Sim.Engine;
using Sim.Spec.Pci;

namespace Sim.Devices.Pci;

/// <summary>
/// The 256 bytes of a function's configuration space with QEMU's per-byte masks (hw/pci/pci.c):
/// <c>wmask</c> marks bits the guest may write, <c>w1cmask</c> bits a guest write of 1 clears.
/// A guest write updates each byte as <c>(old &amp; ~wmask) | (val &amp; wmask)</c>, then clears
/// <c>val &amp; w1cmask</c> (pci_default_write_config). Guest accessors take any offset and length and
/// never throw: bytes outside the 256-byte space read as all-ones (no extended space behind
/// mechanism #1) and are not written. Host setup uses the <c>Set*</c> methods, which bypass the masks.
/// </summary>
public sealed class PciConfigSpace
{
    private readonly byte[] _config = new byte[PciConfigRegisters.SpaceSize];
    private readonly byte[] _writeMask = new byte[PciConfigRegisters.SpaceSize];
    private readonly byte[] _writeOneToClearMask = new byte[PciConfigRegisters.SpaceSize];

    /// <summary>The current register contents (read-only view, for tests and snapshots).</summary>
    public ReadOnlySpan<byte> Bytes => _config;

    /// <summary>Guest read of <c>data.Length</c> bytes at <paramref name="offset"/>, little-endian.</summary>
    public void Read(int offset, Span<byte> data)
    {
        for (int i = 0; i < data.Length; i++)
        {
            long a = (long)offset + i;
            data[i] = Narrow.AsUInt64Bits(a) < PciConfigRegisters.SpaceSize ? _config[a] : (byte)0xFF;
        }
    }

    /// <summary>Guest read of 1 to 4 bytes as a little-endian integer (other sizes read all-ones).</summary>
    public uint Read(int offset, int size)
    {
        if (unchecked((uint)(size - 1)) >= 4u)
            return uint.MaxValue;
        Span<byte> b = stackalloc byte[4];
        b.Clear();
        Read(offset, b[..size]);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    /// <summary>Guest write through the masks; bytes outside the space are ignored.</summary>
    public void Write(int offset, ReadOnlySpan<byte> data)
    {
        for (int i = 0; i < data.Length; i++)
        {
            long a = (long)offset + i;
            if (Narrow.AsUInt64Bits(a) >= PciConfigRegisters.SpaceSize)
                continue; // a negative offset wraps high: out of range
            byte wm = _writeMask[a];
            byte w1c = _writeOneToClearMask[a];
            byte v = data[i];
            _config[a] = Narrow.LowByte(((_config[a] & ~wm) | (v & wm)) & ~(v & w1c));
        }
    }

    /// <summary>Guest write of the low <paramref name="size"/> (1..4) bytes of <paramref name="value"/>.</summary>
    public void Write(int offset, int size, uint value)
    {
        if (unchecked((uint)(size - 1)) >= 4u)
            return;
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        Write(offset, b[..size]);
    }

    /// <summary>Host read of a byte (no masks). Throws on an offset outside the space (host misuse).</summary>
    public byte GetByte(int offset) => _config[Check(offset, 1)];

    /// <summary>Host read of a le16.</summary>
    public ushort GetUInt16(int offset) => BinaryPrimitives.ReadUInt16LittleEndian(_config.AsSpan(Check(offset, 2)));

    /// <summary>Host read of a le32.</summary>
    public uint GetUInt32(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(_config.AsSpan(Check(offset, 4)));

    /// <summary>Host write of a byte, bypassing the masks.</summary>
    public void SetByte(int offset, byte value) => _config[Check(offset, 1)] = value;

    /// <summary>Host write of a le16, bypassing the masks.</summary>
    public void SetUInt16(int offset, ushort value) =>
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(Check(offset, 2)), value);

    /// <summary>Host write of a le32, bypassing the masks.</summary>
    public void SetUInt32(int offset, uint value) =>
        BinaryPrimitives.WriteUInt32LittleEndian(_config.AsSpan(Check(offset, 4)), value);

    /// <summary>Sets the guest-writable bits of one byte.</summary>
    public void SetWriteMask(int offset, byte mask) => _writeMask[Check(offset, 1)] = mask;

    /// <summary>Sets the guest-writable bits of a le16.</summary>
    public void SetWriteMask16(int offset, ushort mask) =>
        BinaryPrimitives.WriteUInt16LittleEndian(_writeMask.AsSpan(Check(offset, 2)), mask);

    /// <summary>Sets the guest-writable bits of a le32.</summary>
    public void SetWriteMask32(int offset, uint mask) =>
        BinaryPrimitives.WriteUInt32LittleEndian(_writeMask.AsSpan(Check(offset, 4)), mask);

    /// <summary>Sets <paramref name="length"/> bytes of write mask to <paramref name="mask"/>.</summary>
    public void FillWriteMask(int offset, int length, byte mask) =>
        _writeMask.AsSpan(Check(offset, length), length).Fill(mask);

    /// <summary>Sets the write-one-to-clear bits of a le16.</summary>
    public void SetWriteOneToClearMask16(int offset, ushort mask) =>
        BinaryPrimitives.WriteUInt16LittleEndian(_writeOneToClearMask.AsSpan(Check(offset, 2)), mask);

    /// <summary>Guest-writable bits of a byte (for tests and for devices that refine masks).</summary>
    public byte GetWriteMask(int offset) => _writeMask[Check(offset, 1)];

    /// <summary>Fills <paramref name="length"/> raw bytes with zero (host), e.g. on reset.</summary>
    public void ClearBytes(int offset, int length) => _config.AsSpan(Check(offset, length), length).Clear();

    private static int Check(int offset, int length)
    {
        if (length < 0 || offset < 0 || offset > PciConfigRegisters.SpaceSize - length)
        {
            throw new ArgumentOutOfRangeException(
                nameof(offset),
                $"config range [0x{offset:x}, +{length}) is outside the {PciConfigRegisters.SpaceSize}-byte space"
            );
        }
        return offset;
    }
}
