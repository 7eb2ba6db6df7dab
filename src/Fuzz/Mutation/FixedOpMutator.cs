using Sim.Engine.Random;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Mutation;

/// <summary>
/// Structure-aware mutations for inputs made of a fixed header and fixed-size operations whose first byte is the
/// operation code (<see cref="VirtioPciInput"/>, <see cref="VhostCoreInput"/>): insert a random operation, delete,
/// duplicate or swap whole operations, change an operation's code, set one operand byte to an interesting value, flip
/// a header bit. The framing stays aligned; in place, no allocation, all randomness from the caller's
/// <see cref="Prng"/>.
/// </summary>
internal sealed class FixedOpMutator : IMutator
{
    private const int KindCount = 6;

    private static readonly byte[] Interesting = [0, 1, 2, 3, 4, 7, 8, 0x10, 0x20, 0x3F, 0x40, 0x7F, 0x80, 0xFE, 0xFF];

    private readonly int _header;
    private readonly int _op;
    private readonly int _codes;

    public FixedOpMutator(int headerLength, int opLength, int opCodes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(headerLength);
        ArgumentOutOfRangeException.ThrowIfLessThan(opLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(opCodes, 1);
        _header = headerLength;
        _op = opLength;
        _codes = opCodes;
    }

    public int Mutate(Span<byte> buffer, int length, Prng prng)
    {
        ArgumentNullException.ThrowIfNull(prng);
        if (buffer.Length < _header + _op)
            return Math.Min(length, buffer.Length);
        if (length < _header)
        {
            buffer[length.._header].Clear();
            length = _header;
        }
        int ops = (length - _header) / _op;
        length = _header + (ops * _op);
        int capacity = (buffer.Length - _header) / _op;
        int stack = 1 + prng.IntLessThan(3);
        for (int s = 0; s < stack; s++)
        {
            int kind = ops == 0 ? 0 : prng.IntLessThan(KindCount);
            switch (kind)
            {
                case 0:
                    if (ops < capacity)
                        InsertRandomOp(buffer, ref length, ref ops, prng);
                    break;
                case 1:
                    DeleteOp(buffer, ref length, ref ops, prng);
                    break;
                case 2:
                    if (ops < capacity)
                        DuplicateOp(buffer, ref length, ref ops, prng);
                    break;
                case 3:
                    SwapOps(buffer, ops, prng);
                    break;
                case 4:
                    buffer[_header + (prng.IntLessThan(ops) * _op)] = (byte)prng.IntLessThan(_codes);
                    break;
                default:
                    SetInterestingOperandOrFlipHeaderBit(buffer, length, ops, prng);
                    break;
            }
        }
        return length;
    }

    /// <summary>A random operation (a valid code, random operands) inserted at a random operation boundary.</summary>
    private void InsertRandomOp(Span<byte> buffer, ref int length, ref int ops, Prng prng)
    {
        int at = _header + (prng.IntLessThan(ops + 1) * _op);
        buffer[at..length].CopyTo(buffer[(at + _op)..]);
        for (int i = 0; i < _op; i++)
            buffer[at + i] = prng.NextByte();
        buffer[at] = (byte)prng.IntLessThan(_codes);
        length += _op;
        ops++;
    }

    private void DeleteOp(Span<byte> buffer, ref int length, ref int ops, Prng prng)
    {
        int at = _header + (prng.IntLessThan(ops) * _op);
        buffer[(at + _op)..length].CopyTo(buffer[at..]);
        length -= _op;
        ops--;
    }

    /// <summary>A copy of a random operation inserted at a random operation boundary.</summary>
    private void DuplicateOp(Span<byte> buffer, ref int length, ref int ops, Prng prng)
    {
        int from = _header + (prng.IntLessThan(ops) * _op);
        int at = _header + (prng.IntLessThan(ops + 1) * _op);
        buffer[at..length].CopyTo(buffer[(at + _op)..]);
        if (from >= at)
            from += _op; // the source moved up with the tail
        buffer.Slice(from, _op).CopyTo(buffer[at..]);
        length += _op;
        ops++;
    }

    private void SwapOps(Span<byte> buffer, int ops, Prng prng)
    {
        int x = _header + (prng.IntLessThan(ops) * _op);
        int y = _header + (prng.IntLessThan(ops) * _op);
        for (int i = 0; i < _op; i++)
            (buffer[x + i], buffer[y + i]) = (buffer[y + i], buffer[x + i]);
    }

    /// <summary>One operand byte of a random operation set to an interesting value, and one time in eight a header
    /// bit flipped.</summary>
    private void SetInterestingOperandOrFlipHeaderBit(Span<byte> buffer, int length, int ops, Prng prng)
    {
        int at = _header + (prng.IntLessThan(ops) * _op) + 1 + prng.IntLessThan(_op - 1 > 0 ? _op - 1 : 1);
        if (at < length)
            buffer[at] = Interesting[prng.IntLessThan(Interesting.Length)];
        if (_header > 0 && prng.IntLessThan(8) == 0)
            buffer[prng.IntLessThan(_header)] ^= (byte)(1 << prng.IntLessThan(8));
    }
}
