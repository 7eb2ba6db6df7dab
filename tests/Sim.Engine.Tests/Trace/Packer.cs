using System.Buffers;
using MessagePack;

namespace Sim.Engine.Tests.Trace;

/// <summary>Hand-made MessagePack for tests, written through the codec under test (MessagePack-CSharp's
/// <see cref="MessagePackWriter"/>, a ref struct that lambdas cannot capture): each call writes one item
/// into <paramref name="buffer"/>.</summary>
internal sealed class Packer(IBufferWriter<byte> buffer)
{
    public void WriteNil()
    {
        var w = new MessagePackWriter(buffer);
        w.WriteNil();
        w.Flush();
    }

    public void Write(bool v)
    {
        var w = new MessagePackWriter(buffer);
        w.Write(v);
        w.Flush();
    }

    public void Write(int v)
    {
        var w = new MessagePackWriter(buffer);
        w.Write(v);
        w.Flush();
    }

    public void Write(uint v)
    {
        var w = new MessagePackWriter(buffer);
        w.Write(v);
        w.Flush();
    }

    public void Write(long v)
    {
        var w = new MessagePackWriter(buffer);
        w.Write(v);
        w.Flush();
    }

    public void Write(ulong v)
    {
        var w = new MessagePackWriter(buffer);
        w.Write(v);
        w.Flush();
    }

    public void Write(double v)
    {
        var w = new MessagePackWriter(buffer);
        w.Write(v);
        w.Flush();
    }

    public void Write(float v)
    {
        var w = new MessagePackWriter(buffer);
        w.Write(v);
        w.Flush();
    }

    public void Write(string v)
    {
        var w = new MessagePackWriter(buffer);
        w.Write(v);
        w.Flush();
    }

    public void Write(ReadOnlySpan<byte> bin)
    {
        var w = new MessagePackWriter(buffer);
        w.Write(bin);
        w.Flush();
    }

    public void WriteRaw(ReadOnlySpan<byte> raw)
    {
        var w = new MessagePackWriter(buffer);
        w.WriteRaw(raw);
        w.Flush();
    }

    public void WriteArrayHeader(uint n)
    {
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(n);
        w.Flush();
    }

    public void WriteMapHeader(uint n)
    {
        var w = new MessagePackWriter(buffer);
        w.WriteMapHeader(n);
        w.Flush();
    }

    public void WriteBinHeader(int n)
    {
        var w = new MessagePackWriter(buffer);
        w.WriteBinHeader(n);
        w.Flush();
    }

    public void WriteStringHeader(int n)
    {
        var w = new MessagePackWriter(buffer);
        w.WriteStringHeader(n);
        w.Flush();
    }

    public void WriteExtensionFormat(sbyte type, byte[] data)
    {
        var w = new MessagePackWriter(buffer);
        w.WriteExtensionFormat(new ExtensionResult(type, data));
        w.Flush();
    }

    public static void Flush() { }
}
