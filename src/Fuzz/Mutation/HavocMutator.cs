using System.Buffers.Binary;
using Sim.Engine;
using Sim.Engine.Random;

namespace Virtsim.Fuzz.Mutation;

/// <summary>
/// AFL-style byte-level havoc: a stack of 1, 2, 4 or 8 random edits — bit flips, interesting values
/// (8/16/32/64-bit, either endianness), small arithmetic, random bytes, block delete / insert / duplicate,
/// and splicing with another corpus entry. In place on a caller-owned buffer; no allocation.
/// All randomness comes from the caller's <see cref="Prng"/>.
/// </summary>
internal sealed class HavocMutator
{
    /// <summary>Largest arithmetic delta (AFL's ARITH_MAX).</summary>
    public const int ArithMax = 35;

    /// <summary>Largest block a single insert/delete/copy moves.</summary>
    public const int BlockLengthMax = 128;

    private const int OpCount = 15;

    /// <summary>Mutates <c>buffer[..length]</c>; may grow up to <c>buffer.Length</c>. <paramref name="partner"/>
    /// (possibly empty) is another corpus entry for splicing. Returns the new length.</summary>
    public int Mutate(Span<byte> buffer, int length, Prng prng, ReadOnlySpan<byte> partner)
    {
        if ((uint)length > (uint)buffer.Length)
            throw new ArgumentOutOfRangeException(nameof(length), "length exceeds the buffer");
        if (buffer.Length == 0)
            return 0;
        int stack = 1 << prng.IntLessThan(4);
        for (int s = 0; s < stack; s++)
            length = MutateOnce(buffer, length, prng, partner);
        return length;
    }

    private static int MutateOnce(Span<byte> buf, int len, Prng prng, ReadOnlySpan<byte> partner)
    {
        int op = prng.IntLessThan(OpCount);
        if (len == 0)
            op = partner.Length > 0 && prng.NextBool() ? 13 : 10;
        switch (op)
        {
            case 0:
                buf[prng.IntLessThan(len)] ^= (byte)(1 << prng.IntLessThan(8));
                return len;
            case 1:
                buf[prng.IntLessThan(len)] = InterestingValues.Int8[prng.IntLessThan(InterestingValues.Int8.Length)];
                return len;
            case 2:
                if (len < 2)
                    goto case 0;
                WriteInteresting16(buf, len, prng);
                return len;
            case 3:
                if (len < 4)
                    goto case 2;
                WriteInteresting32(buf, len, prng);
                return len;
            case 4:
                if (len < 8)
                    goto case 3;
                WriteInteresting64(buf, len, prng);
                return len;
            case 5:
                AddToByte(buf, len, prng);
                return len;
            case 6:
                if (len < 2)
                    goto case 5;
                AddToUInt16(buf, len, prng);
                return len;
            case 7:
                if (len < 4)
                    goto case 6;
                AddToUInt32(buf, len, prng);
                return len;
            case 8:
                buf[prng.IntLessThan(len)] ^= (byte)(1 + prng.IntLessThan(255));
                return len;
            case 9:
                if (len < 2)
                    goto case 0;
                return DeleteBlock(buf, len, prng);
            case 10:
                if (len >= buf.Length)
                    goto case 9;
                return InsertBlock(buf, len, prng);
            case 11:
                if (len < 2)
                    goto case 0;
                return CopyBlock(buf, len, prng);
            case 12:
                if (partner.Length == 0)
                    goto case 10;
                return SpliceOverwrite(buf, len, prng, partner);
            case 13:
                if (partner.Length == 0 || len >= buf.Length)
                    goto case 9;
                return SpliceInsert(buf, len, prng, partner);
            default:
                if (partner.Length < 2 || len < 2)
                    goto case 0;
                return Crossover(buf, len, prng, partner);
        }
    }

    /// <summary>Overwrites 2 bytes with an interesting 16-bit value in either byte order.</summary>
    private static void WriteInteresting16(Span<byte> buf, int len, Prng prng) =>
        WriteU16(
            buf[prng.IntLessThan(len - 1)..],
            InterestingValues.Int16[prng.IntLessThan(InterestingValues.Int16.Length)],
            prng.NextBool()
        );

    /// <summary>Overwrites 4 bytes with an interesting 32-bit value in either byte order.</summary>
    private static void WriteInteresting32(Span<byte> buf, int len, Prng prng) =>
        WriteU32(
            buf[prng.IntLessThan(len - 3)..],
            InterestingValues.Int32[prng.IntLessThan(InterestingValues.Int32.Length)],
            prng.NextBool()
        );

    /// <summary>Overwrites 8 bytes with an interesting 64-bit value in either byte order.</summary>
    private static void WriteInteresting64(Span<byte> buf, int len, Prng prng)
    {
        ulong v = InterestingValues.Int64[prng.IntLessThan(InterestingValues.Int64.Length)];
        Span<byte> at = buf[prng.IntLessThan(len - 7)..];
        if (prng.NextBool())
            BinaryPrimitives.WriteUInt64LittleEndian(at, v);
        else
            BinaryPrimitives.WriteUInt64BigEndian(at, v);
    }

    /// <summary>Adds a small delta to one byte (wrapping, as AFL's arithmetic stage).</summary>
    private static void AddToByte(Span<byte> buf, int len, Prng prng)
    {
        int i = prng.IntLessThan(len);
        buf[i] = unchecked((byte)(buf[i] + Delta(prng)));
    }

    /// <summary>Adds a small delta to a 16-bit value in either byte order.</summary>
    private static void AddToUInt16(Span<byte> buf, int len, Prng prng)
    {
        Span<byte> at = buf[prng.IntLessThan(len - 1)..];
        bool little = prng.NextBool();
        ushort v = little ? BinaryPrimitives.ReadUInt16LittleEndian(at) : BinaryPrimitives.ReadUInt16BigEndian(at);
        WriteU16(at, unchecked((ushort)(v + Delta(prng))), little);
    }

    /// <summary>Adds a small delta to a 32-bit value in either byte order.</summary>
    private static void AddToUInt32(Span<byte> buf, int len, Prng prng)
    {
        Span<byte> at = buf[prng.IntLessThan(len - 3)..];
        bool little = prng.NextBool();
        uint v = little ? BinaryPrimitives.ReadUInt32LittleEndian(at) : BinaryPrimitives.ReadUInt32BigEndian(at);
        WriteU32(at, Narrow.ToUInt32Wrapping(v + Delta(prng)), little);
    }

    /// <summary>Deletes a block, never the whole input (an empty input rarely says anything new); returns the new
    /// length.</summary>
    private static int DeleteBlock(Span<byte> buf, int len, Prng prng)
    {
        int n = BlockLength(prng, len - 1);
        int at = prng.IntLessThan(len - n + 1);
        buf[(at + n)..len].CopyTo(buf[at..]);
        return len - n;
    }

    /// <summary>Inserts a block: a copy of existing bytes, a run of one value, or random bytes; returns the new
    /// length.</summary>
    private static int InsertBlock(Span<byte> buf, int len, Prng prng)
    {
        int cap = buf.Length;
        int n = BlockLength(prng, cap - len);
        int at = prng.IntLessThan(len + 1);
        buf[at..len].CopyTo(buf[(at + n)..]);
        int kind = prng.IntLessThan(4);
        Span<byte> block = buf.Slice(at, n);
        if (kind == 0 && len >= n)
        {
            // Source chosen from the bytes as they were (before the gap); copy through a shift-aware index.
            int src = prng.IntLessThan(len - n + 1);
            for (int k = 0; k < n; k++)
            {
                int from = src + k;
                block[k] = buf[from < at ? from : from + n];
            }
        }
        else if (kind == 1)
        {
            block.Fill(
                prng.NextBool()
                    ? prng.NextByte()
                    : InterestingValues.Int8[prng.IntLessThan(InterestingValues.Int8.Length)]
            );
        }
        else
        {
            prng.NextBytes(block);
        }
        return len + n;
    }

    /// <summary>Overwrites a block with a copy of another part of the input (duplicates a structure).</summary>
    private static int CopyBlock(Span<byte> buf, int len, Prng prng)
    {
        int n = BlockLength(prng, len - 1);
        int src = prng.IntLessThan(len - n + 1);
        int dst = prng.IntLessThan(len - n + 1);
        buf.Slice(src, n).CopyTo(buf.Slice(dst, n));
        return len;
    }

    /// <summary>Splice: overwrites a block with a chunk of the partner.</summary>
    private static int SpliceOverwrite(Span<byte> buf, int len, Prng prng, ReadOnlySpan<byte> partner)
    {
        int n = BlockLength(prng, Math.Min(partner.Length, len));
        int src = prng.IntLessThan(partner.Length - n + 1);
        int dst = prng.IntLessThan(len - n + 1);
        partner.Slice(src, n).CopyTo(buf.Slice(dst, n));
        return len;
    }

    /// <summary>Inserts a chunk of the partner; returns the new length.</summary>
    private static int SpliceInsert(Span<byte> buf, int len, Prng prng, ReadOnlySpan<byte> partner)
    {
        int cap = buf.Length;
        int n = BlockLength(prng, Math.Min(partner.Length, cap - len));
        int src = prng.IntLessThan(partner.Length - n + 1);
        int at = prng.IntLessThan(len + 1);
        buf[at..len].CopyTo(buf[(at + n)..]);
        partner.Slice(src, n).CopyTo(buf.Slice(at, n));
        return len + n;
    }

    /// <summary>Crossover: keeps the head, takes the partner's tail from a random cut (AFL's splice stage); returns
    /// the new length.</summary>
    private static int Crossover(Span<byte> buf, int len, Prng prng, ReadOnlySpan<byte> partner)
    {
        int cap = buf.Length;
        int cut = 1 + prng.IntLessThan(Math.Min(len, partner.Length) - 1);
        int tail = Math.Min(partner.Length - cut, cap - cut);
        partner.Slice(cut, tail).CopyTo(buf[cut..]);
        return cut + tail;
    }

    private static int Delta(Prng prng)
    {
        int d = 1 + prng.IntLessThan(ArithMax);
        return prng.NextBool() ? d : -d;
    }

    /// <summary>Mostly short blocks (fields), sometimes long ones (whole records), at most
    /// <paramref name="limit"/>.</summary>
    private static int BlockLength(Prng prng, int limit)
    {
        int cap = prng.IntLessThan(3) switch
        {
            0 => 4,
            1 => 16,
            _ => BlockLengthMax,
        };
        return 1 + prng.IntLessThan(Math.Min(cap, limit));
    }

    private static void WriteU16(Span<byte> at, ushort v, bool little)
    {
        if (little)
            BinaryPrimitives.WriteUInt16LittleEndian(at, v);
        else
            BinaryPrimitives.WriteUInt16BigEndian(at, v);
    }

    private static void WriteU32(Span<byte> at, uint v, bool little)
    {
        if (little)
            BinaryPrimitives.WriteUInt32LittleEndian(at, v);
        else
            BinaryPrimitives.WriteUInt32BigEndian(at, v);
    }
}
