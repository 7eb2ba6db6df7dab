using System.Buffers.Binary;

namespace Virtsim.Fuzz.Targets.Minimizing;

/// <summary>
/// A typed minimiser for inputs framed as a fixed-length header followed by fixed-length operations (the
/// <see cref="Rings.RingInput"/> targets, <see cref="DemoPciTarget"/>). Candidates, most aggressive first:
/// <list type="number">
/// <item>the operations the target would ignore (past its operation bound), then all operations;</item>
/// <item>delta debugging over operations: remove chunks of 2^k operations, k descending, at every aligned position
/// (ddmin's complements; the engine resumes at the last kept position, so a pass is near-linear);</item>
/// <item>each operation's fields simplified (<see cref="FrameFieldKind"/>): toward zero, smaller indices, fewer
/// descriptors, canonical choices;</item>
/// <item>the header's fields likewise (smaller queue, features off).</item>
/// </list>
/// Candidates are re-encoded bytes, so a kept one replays exactly. The order descended (<see cref="IsSimpler"/>) is
/// length, then bytes compared lexicographically with each header field's inverted bits flipped: well-founded, so
/// minimisation terminates. Deterministic and stateless.
/// </summary>
internal sealed class FramedInputMinimizer : IInputMinimizer
{
    private readonly int _headerLength;
    private readonly int _opLength;
    private readonly int _opsMax;
    private readonly FrameField[] _headerFields;
    private readonly FrameField[] _opFields;
    private readonly byte[] _inverted;

    /// <param name="headerLength">Header bytes before the first operation (0 for none).</param>
    /// <param name="opLength">Bytes per operation.</param>
    /// <param name="opsMax">Operations the target decodes at most (later ones are ignored).</param>
    /// <param name="headerFields">The header's fields.</param>
    /// <param name="opFields">An operation's fields.</param>
    public FramedInputMinimizer(
        int headerLength,
        int opLength,
        int opsMax,
        IReadOnlyList<FrameField> headerFields,
        IReadOnlyList<FrameField> opFields
    )
    {
        ArgumentOutOfRangeException.ThrowIfNegative(headerLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(opLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(opsMax);
        ArgumentNullException.ThrowIfNull(headerFields);
        ArgumentNullException.ThrowIfNull(opFields);
        _headerLength = headerLength;
        _opLength = opLength;
        _opsMax = opsMax;
        _headerFields = [.. headerFields];
        _opFields = [.. opFields];
        Validate(_headerFields, headerLength, nameof(headerFields));
        Validate(_opFields, opLength, nameof(opFields));
        _inverted = new byte[headerLength];
        foreach (FrameField f in _headerFields)
            _inverted[f.Offset] |= f.InvertedBits;
        if (_opFields.Any(f => f.InvertedBits != 0))
            throw new ArgumentException("inverted bits are supported in the header only", nameof(opFields));
    }

    /// <summary>Complete operations and a trailing partial one in <paramref name="input"/>.</summary>
    public int OperationCount(ReadOnlySpan<byte> input) =>
        input.Length <= _headerLength ? 0 : (input.Length - _headerLength + _opLength - 1) / _opLength;

    public IEnumerable<byte[]> Candidates(byte[] input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return Enumerate(input);
    }

    public bool IsSimpler(ReadOnlySpan<byte> candidate, ReadOnlySpan<byte> current)
    {
        if (candidate.Length != current.Length)
            return candidate.Length < current.Length;
        for (int i = 0; i < candidate.Length; i++)
        {
            byte flip = i < _inverted.Length ? _inverted[i] : (byte)0;
            int a = candidate[i] ^ flip;
            int b = current[i] ^ flip;
            if (a != b)
                return a < b;
        }
        return false;
    }

    private IEnumerable<byte[]> Enumerate(byte[] input)
    {
        int ops = OperationCount(input);
        if (ops > _opsMax)
            yield return input[..(_headerLength + (_opsMax * _opLength))];
        if (ops > 1)
            yield return input[.._headerLength];
        for (int size = HighestPowerOfTwoBelow(ops); size >= 1; size /= 2)
        {
            for (int at = 0; at < ops; at += size)
                yield return RemoveOps(input, at, Math.Min(size, ops - at));
        }
        for (int k = 0; k < ops; k++)
        {
            foreach (FrameField f in _opFields)
            {
                foreach (byte[] c in FieldCandidates(input, _headerLength + (k * _opLength), f))
                    yield return c;
            }
        }
        foreach (FrameField f in _headerFields)
        {
            foreach (byte[] c in FieldCandidates(input, 0, f))
                yield return c;
        }
    }

    /// <summary>The first chunk size for <paramref name="n"/> operations: the largest power of two below n (1 for n =
    /// 1, 0 for none).</summary>
    private static int HighestPowerOfTwoBelow(int n)
    {
        if (n <= 1)
            return n;
        int p = 1;
        while (p * 2 < n)
            p *= 2;
        return p;
    }

    private byte[] RemoveOps(byte[] input, int at, int count)
    {
        int from = _headerLength + (at * _opLength);
        int to = Math.Min(input.Length, _headerLength + ((at + count) * _opLength));
        var c = new byte[input.Length - (to - from)];
        input.AsSpan(0, from).CopyTo(c);
        input.AsSpan(to).CopyTo(c.AsSpan(from));
        return c;
    }

    /// <summary>Re-encodings of <paramref name="input"/> with one field (at <paramref name="frameStart"/> +
    /// offset) simplified; a field cut off by the input's end is read and written over the bytes present.</summary>
    private static IEnumerable<byte[]> FieldCandidates(byte[] input, int frameStart, FrameField f)
    {
        int at = frameStart + f.Offset;
        if (at >= input.Length)
            yield break;
        int width = Math.Min(f.Width, input.Length - at);
        ulong v = Read(input.AsSpan(at, width));
        ulong last = v;
        foreach (ulong w in Simplifications(v, f))
        {
            ulong masked = width >= 8 ? w : w & ((1UL << (8 * width)) - 1);
            if (masked == v || masked == last)
                continue;
            last = masked;
            byte[] c = (byte[])input.Clone();
            Write(c.AsSpan(at, width), masked);
            yield return c;
        }
    }

    private static IEnumerable<ulong> Simplifications(ulong v, FrameField f)
    {
        ulong canonical = f.Modulus > 0 ? v % (ulong)f.Modulus : v;
        switch (f.Kind)
        {
            case FrameFieldKind.Code:
                yield return canonical;
                break;
            case FrameFieldKind.Choice:
                yield return f.Neutral;
                yield return canonical;
                break;
            case FrameFieldKind.Value:
                yield return f.Neutral;
                if (f.Width > 4)
                    yield return v & 0xffff_ffff;
                if (f.Width > 2)
                    yield return v & 0xffff;
                if (f.Width > 1)
                    yield return v & 0xff;
                break;
            case FrameFieldKind.Small:
                yield return f.Neutral;
                yield return canonical;
                yield return canonical / 2;
                if (canonical > 0)
                    yield return canonical - 1;
                break;
            default:
                yield return f.Neutral;
                yield return canonical;
                for (int bit = 0; bit < 8 * f.Width; bit++)
                {
                    ulong mask = 1UL << bit;
                    bool inverted = (f.InvertedBits & mask) != 0;
                    if (inverted && (v & mask) == 0)
                        yield return v | mask;
                    else if (!inverted && (v & mask) != 0)
                        yield return v & ~mask;
                }
                break;
        }
    }

    private static ulong Read(ReadOnlySpan<byte> bytes)
    {
        Span<byte> b = stackalloc byte[8];
        b.Clear();
        bytes.CopyTo(b);
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    private static void Write(Span<byte> bytes, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        b[..bytes.Length].CopyTo(bytes);
    }

    private static void Validate(FrameField[] fields, int frameLength, string name)
    {
        foreach (FrameField f in fields)
        {
            if (f.Width is < 1 or > 8 || f.Offset < 0 || f.Offset > frameLength - f.Width)
                throw new ArgumentException(
                    $"field at {f.Offset} (width {f.Width}) does not fit a {frameLength}-byte frame",
                    name
                );
            if (f.InvertedBits != 0 && f.Width != 1)
                throw new ArgumentException("inverted bits need a 1-byte field", name);
            if (f.Modulus < 0)
                throw new ArgumentException("modulus must not be negative", name);
        }
    }
}
