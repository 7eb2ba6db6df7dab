using System.Buffers.Binary;
using System.IO.Compression;

namespace Sim.Engine.Trace;

/// <summary>
/// Inflates one memory chunk (traces/README.md §2): exactly one zlib stream (RFC 1950: 2-byte header,
/// deflate data, big-endian Adler-32 of the output) that fills exactly the destination and ends exactly
/// where the bin ends. .NET's <see cref="ZLibStream"/> alone accepts trailing bytes after the stream and a
/// stream whose Adler-32 trailer is missing (it reports end of data either way), so the compressed bytes
/// are fed through <see cref="TailFeed"/>, which hands out the last bytes one at a time: the inflater
/// asks for a byte only while its stream is unfinished, so bytes never asked for are trailing bytes, and
/// a request after the last byte means the stream was cut short. The trailer is then checked against the
/// output's Adler-32 as well. The output never exceeds the destination (a decompression bomb stops there).
/// </summary>
internal static class ZlibChunkInflater
{
    /// <summary>Bytes at the end of the input handed out one per read.</summary>
    private const int TailBytes = 16;

    /// <summary>zlib header (2) + Adler-32 trailer (4): the shortest possible stream is longer.</summary>
    private const int FramingBytes = 6;

    /// <summary>Inflates <paramref name="compressed"/> into exactly <paramref name="destination"/>. False with
    /// what was expected and what was found (<paramref name="at"/>: offset within the input) otherwise.</summary>
    public static bool TryInflate(
        ReadOnlyMemory<byte> compressed,
        Span<byte> destination,
        out string expected,
        out string found,
        out int at
    )
    {
        at = 0;
        ReadOnlySpan<byte> input = compressed.Span;
        if (!TryCheckHeader(input, out expected, out found))
            return false;
        var source = new TailFeed(compressed);
        int got = 0;
        bool longer;
        try
        {
            using var z = new ZLibStream(source, CompressionMode.Decompress);
            // Each Read returns at least one byte or 0 at the end: at most destination.Length rounds.
            while (got < destination.Length)
            {
                int n = z.Read(destination[got..]);
                if (n <= 0)
                    break;
                got += n;
            }
            Span<byte> probe = stackalloc byte[1];
            longer = got == destination.Length && z.Read(probe) > 0;
        }
        catch (InvalidDataException e)
        {
            (expected, found, at) = ("zlib data", $"invalid data ({e.Message})", source.Given);
            return false;
        }
        catch (IOException e)
        {
            (expected, found, at) = ("zlib data", $"invalid data ({e.Message})", source.Given);
            return false;
        }
        return TryCheckStreamEnd(input, source, destination, got, longer, out expected, out found, out at);
    }

    /// <summary>After inflating: the stream filled exactly the destination (no short stream, no decompression
    /// bomb), ended exactly where the input ends (no trailing bytes, not cut short), and its Adler-32 trailer is
    /// the output's.</summary>
    private static bool TryCheckStreamEnd(
        ReadOnlySpan<byte> input,
        TailFeed source,
        ReadOnlySpan<byte> destination,
        int got,
        bool longer,
        out string expected,
        out string found,
        out int at
    )
    {
        (expected, found, at) = ("", "", 0);
        if (got < destination.Length)
        {
            (expected, found, at) = (
                $"{destination.Length} bytes after decompression",
                $"{got} bytes (a short stream)",
                source.Given
            );
            return false;
        }
        if (longer)
        {
            (expected, found, at) = (
                $"{destination.Length} bytes after decompression",
                "more bytes (a decompression bomb)",
                source.Given
            );
            return false;
        }
        if (source.Given < input.Length)
        {
            (expected, found, at) = (
                "the end of the chunk's data after its zlib stream",
                $"{input.Length - source.Given} trailing bytes",
                source.Given
            );
            return false;
        }
        if (source.ReadPastEnd)
        {
            (expected, found, at) = (
                "the zlib stream's end and its Adler-32 trailer",
                "the end of the chunk's data (a cut-short stream)",
                input.Length
            );
            return false;
        }
        uint stated = BinaryPrimitives.ReadUInt32BigEndian(input[^4..]);
        uint actual = Adler32(destination);
        if (stated != actual)
        {
            (expected, found, at) = (
                $"Adler-32 0x{actual:x8} of the inflated bytes",
                $"0x{stated:x8}",
                input.Length - 4
            );
            return false;
        }
        return true;
    }

    /// <summary>The zlib framing before any inflating: long enough for header and trailer, and an RFC 1950 header
    /// this reader accepts. False with what was expected and what was found otherwise.</summary>
    private static bool TryCheckHeader(ReadOnlySpan<byte> input, out string expected, out string found)
    {
        expected = found = "";
        if (input.Length < FramingBytes)
        {
            (expected, found) = ("a zlib stream (at least 6 bytes)", $"{input.Length} bytes");
            return false;
        }
        // RFC 1950 §2.2: CM = 8 (deflate), CINFO <= 7, FCHECK makes CMF*256+FLG a multiple of 31, no preset dictionary.
        int cmf = input[0],
            flg = input[1];
        if ((cmf & 0x0f) != 8 || (cmf >> 4) > 7 || ((cmf << 8) | flg) % 31 != 0 || (flg & 0x20) != 0)
        {
            (expected, found) = (
                "zlib data (RFC 1950 header without a preset dictionary)",
                $"header bytes 0x{cmf:x2} 0x{flg:x2}"
            );
            return false;
        }
        return true;
    }

    /// <summary>RFC 1950 §8.2: two sums modulo 65521; 5552 bytes is the longest run whose sums fit 32 bits.</summary>
    public static uint Adler32(ReadOnlySpan<byte> data)
    {
        const uint Mod = 65521;
        const int RunMax = 5552;
        uint a = 1,
            b = 0;
        while (!data.IsEmpty)
        {
            int n = Math.Min(RunMax, data.Length);
            foreach (byte x in data[..n])
            {
                a += x;
                b += a;
            }
            a %= Mod;
            b %= Mod;
            data = data[n..];
        }
        return (b << 16) | a;
    }

    /// <summary>A read-only stream over the compressed bytes that gives all but the last
    /// <see cref="TailBytes"/> in large reads and the rest one byte per read, and remembers how far it got.</summary>
    private sealed class TailFeed(ReadOnlyMemory<byte> bytes) : Stream
    {
        public int Given { get; private set; }

        /// <summary>True once a read was asked for after every byte was given.</summary>
        public bool ReadPastEnd { get; private set; }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int left = bytes.Length - Given;
            if (left == 0)
            {
                ReadPastEnd = true;
                return 0;
            }
            int n = Math.Min(buffer.Length, left > TailBytes ? left - TailBytes : 1);
            bytes.Span.Slice(Given, n).CopyTo(buffer);
            Given += n;
            return n;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Flush() { }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
