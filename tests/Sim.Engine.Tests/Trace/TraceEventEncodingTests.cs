using System.Buffers.Binary;
using Sim.Engine.Trace;
using Xunit;

namespace Sim.Engine.Tests.Trace;

/// <summary>The reader decodes the common event array straight from its window (EventArrayDecoder) and leaves every
/// other encoding to MessagePack-CSharp's reader: both must return the same events whatever integer formats a
/// writer chose (msgpack spec.md lets any format hold a value that fits it), so a trace re-encoded with the
/// widest formats (uint 64, int 64, bin 32), or with signed and narrow ones, reads as the original, footer hash
/// included.</summary>
public class TraceEventEncodingTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void EventsInAnyIntegerFormat_ReadAsTheCanonicalOnes(int style)
    {
        byte[] canonical = TraceSamples.Sample(200);
        var (events, footer, error, _) = TraceSamples.ReadAll(canonical);
        Assert.Null(error);
        Assert.NotNull(footer);
        byte[] prefix = TraceSamples.Write(TraceSamples.Header(), TraceSamples.Memory(), [], complete: false);
        long footerAt = FooterStart(canonical, events.Count);
        var bytes = new List<byte>(prefix);
        long previous = 0;
        for (int i = 0; i < events.Count; i++)
        {
            TraceRecord e = events[i];
            bytes.AddRange(Encode(e, e.Time - previous, (style + i) % 3));
            previous = e.Time;
        }
        bytes.AddRange(canonical.AsSpan((int)footerAt).ToArray());
        var (again, footerAgain, errorAgain, _) = TraceSamples.ReadAll([.. bytes]);
        Assert.Null(errorAgain);
        Assert.Equal(events, again);
        Assert.Equal(footer!.EventHash, footerAgain!.EventHash);
    }

    /// <summary>Offset of the footer: after the header, memory and <paramref name="count"/> events.</summary>
    private static long FooterStart(byte[] trace, int count)
    {
        Assert.True(TraceReader.TryOpen(new MemoryStream(trace), out TraceReader? reader, out _));
        using (reader)
        {
            for (int i = 0; i < count; i++)
                Assert.True(reader.TryReadNext(out _, out _));
            return reader.Offset;
        }
    }

    /// <summary>Style 0: the widest formats; 1: signed formats for the delta, uint 16/32 where they fit;
    /// 2: canonical but bin 32 data.</summary>
    private static byte[] Encode(TraceRecord e, long delta, int style)
    {
        var b = new List<byte> { 0x96 };
        UInt(b, (ulong)e.Kind, style == 0 ? 8 : 0);
        if (style == 0)
            Fixed(b, 0xd3, Bits(delta), 8);
        else if (style == 1 && delta is >= short.MinValue and <= short.MaxValue)
            Fixed(b, 0xd1, Bits(delta), 2);
        else if (delta >= 0)
            UInt(b, (ulong)delta, 0);
        else
            Fixed(b, 0xd3, Bits(delta), 8);
        UInt(
            b,
            e.Source,
            style == 0 ? 8
                : style == 1 ? 4
                : 0
        );
        UInt(b, e.Address, style == 0 ? 8 : 0);
        UInt(
            b,
            e.Value,
            style == 0 ? 8
                : style == 1 && e.Value <= ushort.MaxValue ? 2
                : 0
        );
        Fixed(b, 0xc6, (ulong)e.Data.Length, 4);
        b.AddRange(e.Data.ToArray());
        return [.. b];
    }

    /// <summary>A uint in exactly <paramref name="size"/> bytes (0: the smallest format).</summary>
    private static void UInt(List<byte> b, ulong v, int size)
    {
        if (size == 0)
        {
            size =
                v <= 0x7f ? -1
                : v <= byte.MaxValue ? 1
                : v <= ushort.MaxValue ? 2
                : v <= uint.MaxValue ? 4
                : 8;
        }
        if (size == -1)
            b.Add((byte)v);
        else
            Fixed(
                b,
                size switch
                {
                    1 => 0xcc,
                    2 => 0xcd,
                    4 => 0xce,
                    _ => 0xcf,
                },
                v,
                size
            );
    }

    /// <summary>The two's-complement bits of <paramref name="v"/>.</summary>
    private static ulong Bits(long v) => BitConverter.ToUInt64(BitConverter.GetBytes(v));

    private static void Fixed(List<byte> b, byte code, ulong v, int size)
    {
        b.Add(code);
        var be = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(be, v);
        b.AddRange(be.AsSpan(8 - size).ToArray());
    }
}
