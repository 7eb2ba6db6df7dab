using Sim.Engine.Random;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;

namespace Virtsim.Fuzz.Mutation;

/// <summary>
/// Structure-aware mutations for <see cref="RingInput"/> inputs (fixed-size operations after a header): insert,
/// delete, duplicate and swap whole operations; change an operation's kind; and ring-specific field edits —
/// loops and back-edges (next pointing at itself or back), redirected next, zero or huge lengths, addr + len
/// overflow, buffers on top of the rings or of each other, buffers straddling the region boundary, indirect
/// nesting, flag flips, avail.idx jumps; plus header edits (queue size, features, placement). In place, no
/// allocation, all randomness from the caller's <see cref="Prng"/>.
/// </summary>
internal sealed class ScenarioMutator : IMutator
{
    private const int KindCount = 8;

    public int Mutate(Span<byte> buffer, int length, Prng prng)
    {
        ArgumentNullException.ThrowIfNull(prng);
        if (buffer.Length < RingInput.HeaderLength + RingInput.OpLength)
            return Math.Min(length, buffer.Length);
        if (length < RingInput.HeaderLength)
        {
            buffer[length..RingInput.HeaderLength].Clear();
            length = RingInput.HeaderLength;
        }
        // Drop a trailing partial operation so the framing stays aligned.
        int ops = (length - RingInput.HeaderLength) / RingInput.OpLength;
        length = RingInput.HeaderLength + (ops * RingInput.OpLength);
        int capacity = (buffer.Length - RingInput.HeaderLength) / RingInput.OpLength;
        int stack = 1 + prng.IntLessThan(3);
        for (int s = 0; s < stack; s++)
        {
            int kind = prng.IntLessThan(KindCount);
            if (ops == 0)
                kind = 0;
            length = MutateOnce(buffer, length, capacity, kind, prng);
            ops = (length - RingInput.HeaderLength) / RingInput.OpLength;
        }
        return length;
    }

    /// <summary>One mutation of the stack: <paramref name="kind"/> 0 inserts a random op, 1 deletes one, 2 duplicates
    /// one, 3 swaps two, 4 changes an op's code, 5 flips a header bit, else edits one field. Returns the new
    /// length (the framing stays aligned).</summary>
    private static int MutateOnce(Span<byte> buffer, int length, int capacity, int kind, Prng prng)
    {
        int ops = (length - RingInput.HeaderLength) / RingInput.OpLength;
        switch (kind)
        {
            case 0:
                if (ops < capacity)
                {
                    int at = prng.IntLessThan(ops + 1);
                    Span<byte> slot = Open(buffer, length, at);
                    for (int i = 0; i < slot.Length; i++)
                        slot[i] = prng.NextByte();
                    length += RingInput.OpLength;
                }
                break;
            case 1:
            {
                int at = prng.IntLessThan(ops);
                int start = Offset(at);
                buffer[(start + RingInput.OpLength)..length].CopyTo(buffer[start..]);
                length -= RingInput.OpLength;
                break;
            }
            case 2:
                if (ops < capacity)
                {
                    int from = prng.IntLessThan(ops);
                    int at = prng.IntLessThan(ops + 1);
                    Span<byte> slot = Open(buffer, length, at);
                    int src = Offset(from >= at ? from + 1 : from);
                    buffer.Slice(src, RingInput.OpLength).CopyTo(slot);
                    length += RingInput.OpLength;
                }
                break;
            case 3:
            {
                Span<byte> a = Op(buffer, prng.IntLessThan(ops));
                Span<byte> b = Op(buffer, prng.IntLessThan(ops));
                for (int i = 0; i < RingInput.OpLength; i++)
                    (a[i], b[i]) = (b[i], a[i]);
                break;
            }
            case 4:
                Op(buffer, prng.IntLessThan(ops))[0] = (byte)prng.IntLessThan(RingInput.OpCount);
                break;
            case 5:
                buffer[prng.IntLessThan(RingInput.HeaderLength)] ^= (byte)(1 << prng.IntLessThan(8));
                break;
            default:
                EditField(Op(buffer, prng.IntLessThan(ops)), prng);
                break;
        }
        return length;
    }

    private static int Offset(int op) => RingInput.HeaderLength + (op * RingInput.OpLength);

    private static Span<byte> Op(Span<byte> buffer, int op) => buffer.Slice(Offset(op), RingInput.OpLength);

    private static Span<byte> Open(Span<byte> buffer, int length, int at)
    {
        int start = Offset(at);
        buffer[start..length].CopyTo(buffer[(start + RingInput.OpLength)..]);
        return buffer.Slice(start, RingInput.OpLength);
    }

    private static void EditField(Span<byte> op, Prng prng)
    {
        switch (prng.IntLessThan(10))
        {
            case 0: // loop: next back to this descriptor (or one before it)
            {
                int back = prng.IntLessThan(2);
                ushort next = (ushort)Math.Max(0, op[RingInput.IndexOffset] - back);
                op[RingInput.NextOffset] = (byte)next;
                op[RingInput.NextOffset + 1] = (byte)(next >> 8);
                op[RingInput.FlagsOffset] |= 1;
                break;
            }
            case 1: // redirected next (in range, or raw with the top bit)
                op[RingInput.NextOffset] = prng.NextByte();
                op[RingInput.NextOffset + 1] = (byte)(prng.NextBool() ? 0x80 | prng.IntLessThan(0x80) : 0);
                break;
            case 2: // zero or huge length
                op[RingInput.LenKindOffset] = (byte)(prng.NextBool() ? 3 : 5);
                break;
            case 3: // addr + len overflows 2^64
                op[RingInput.AddrKindOffset] = 6;
                op[RingInput.LenKindOffset] = 5;
                break;
            case 4: // buffer on top of the rings
                op[RingInput.AddrKindOffset] = 2;
                break;
            case 5: // straddles the region boundary, or runs off the end of memory
                op[RingInput.AddrKindOffset] = (byte)(prng.NextBool() ? 3 : 4);
                op[RingInput.LenKindOffset] = 4;
                break;
            case 6: // indirect (nesting when written into an indirect table)
                op[RingInput.FlagsOffset] |= 4;
                op[RingInput.AddrKindOffset] = 5;
                if (prng.NextBool())
                    op[0] = RingInput.OpWriteIndirectDesc;
                break;
            case 7: // flag flip
                op[RingInput.FlagsOffset] ^= (byte)(1 << prng.IntLessThan(3));
                break;
            case 8: // avail.idx jump
                op[0] = RingInput.OpSetAvailIdx;
                op[RingInput.FlagsOffset] = (byte)(prng.NextBool() ? 1 : 0);
                op[RingInput.NextOffset] = prng.NextByte();
                op[RingInput.NextOffset + 1] = prng.NextByte();
                break;
            default: // buffers overlapping each other: same address as a neighbour's
                op[RingInput.AddrKindOffset] = 0;
                for (int i = 0; i < 8; i++)
                    op[RingInput.AddrOffset + i] = 0;
                break;
        }
    }
}
