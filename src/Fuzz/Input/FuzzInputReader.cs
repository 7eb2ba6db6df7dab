using System.Buffers.Binary;

namespace Virtsim.Fuzz.Input;

/// <summary>
/// Consumes fuzz input bytes front to back and hands out typed values. It never throws on any
/// bytes: once the input is exhausted every read returns zero (and <see cref="IsExhausted"/> says
/// so), so a target's decoder is total over all inputs and a truncated input still decodes to a
/// well-defined, shorter scenario (STYLE.md item 15, vm-virtio fuzz/). Multi-byte values are
/// little-endian. A target's decoding rules are its input format; when a target changes them it
/// bumps <see cref="Targets.IFuzzTarget.InputVersion"/> so stale corpora and regression tests are
/// recognised.
/// </summary>
internal ref struct FuzzInputReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _position;

    public FuzzInputReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _position = 0;
    }

    /// <summary>Bytes consumed so far (never more than the input length).</summary>
    public readonly int Position => _position;

    /// <summary>Bytes not yet consumed.</summary>
    public readonly int Remaining => _data.Length - _position;

    /// <summary>True when every byte has been consumed; further reads return zero.</summary>
    public readonly bool IsExhausted => _position >= _data.Length;

    public byte ReadByte()
    {
        if ((uint)_position < (uint)_data.Length)
            return _data[_position++];
        return 0;
    }

    public bool ReadBool() => (ReadByte() & 1) != 0;

    public ushort ReadU16()
    {
        if (Remaining >= 2)
        {
            ushort v = BinaryPrimitives.ReadUInt16LittleEndian(_data.Slice(_position, 2));
            _position += 2;
            return v;
        }
        return (ushort)ReadPartial(2);
    }

    public uint ReadU32()
    {
        if (Remaining >= 4)
        {
            uint v = BinaryPrimitives.ReadUInt32LittleEndian(_data.Slice(_position, 4));
            _position += 4;
            return v;
        }
        return (uint)ReadPartial(4);
    }

    public ulong ReadU64()
    {
        if (Remaining >= 8)
        {
            ulong v = BinaryPrimitives.ReadUInt64LittleEndian(_data.Slice(_position, 8));
            _position += 8;
            return v;
        }
        return ReadPartial(8);
    }

    /// <summary>One of <paramref name="count"/> alternatives, in [0, count). Consumes one byte when
    /// count ≤ 256, two when ≤ 65536, else four — so small enums cost one mutation-friendly byte.
    /// <paramref name="count"/> is the target's constant, not input: a non-positive one is host misuse.</summary>
    public int ReadChoice(int count)
    {
        if (count <= 0)
            throw new ArgumentOutOfRangeException(nameof(count), "a choice needs at least one alternative");
        if (count == 1)
            return 0;
        if (count <= 256)
            return ReadByte() % count;
        if (count <= 65536)
            return ReadU16() % count;
        return (int)(ReadU32() % (uint)count);
    }

    /// <summary>A value in [<paramref name="min"/>, <paramref name="max"/>] from four bytes (modulo, so
    /// small ranges are near-uniform).</summary>
    public uint ReadRange(uint min, uint max)
    {
        if (min > max)
            throw new ArgumentOutOfRangeException(nameof(min), "min must not exceed max");
        uint v = ReadU32();
        uint span = max - min;
        return span == uint.MaxValue ? v : min + (v % (span + 1));
    }

    /// <summary>Fills <paramref name="destination"/> from the input, zero-filling past its end.
    /// Returns how many bytes came from the input.</summary>
    public int ReadBytes(Span<byte> destination)
    {
        int n = Math.Min(destination.Length, Remaining);
        _data.Slice(_position, n).CopyTo(destination);
        destination[n..].Clear();
        _position += n;
        return n;
    }

    /// <summary>The next up to <paramref name="maxLength"/> input bytes as a slice (no copy).</summary>
    public ReadOnlySpan<byte> ReadSlice(int maxLength)
    {
        if (maxLength < 0)
            throw new ArgumentOutOfRangeException(nameof(maxLength), "length must not be negative");
        int n = Math.Min(maxLength, Remaining);
        ReadOnlySpan<byte> s = _data.Slice(_position, n);
        _position += n;
        return s;
    }

    private ulong ReadPartial(int width)
    {
        ulong v = 0;
        int n = Math.Min(width, Remaining);
        for (int i = 0; i < n; i++)
            v |= (ulong)_data[_position + i] << (8 * i);
        _position += n;
        return v;
    }
}
