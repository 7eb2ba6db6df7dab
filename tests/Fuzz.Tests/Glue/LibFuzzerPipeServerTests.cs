using System.Buffers.Binary;
using Virtsim.Fuzz.Glue;

namespace Fuzz.Tests.Glue;

/// <summary><see cref="LibFuzzerPipeServer"/> against a fake of tools/libfuzzer-driver/driver.c: the same
/// handshake, length-prefixed inputs, status words and map copy.</summary>
public sealed class LibFuzzerPipeServerTests
{
    private static uint ReadWord(Stream s)
    {
        var word = new byte[4];
        s.ReadExactly(word);
        return BinaryPrimitives.ReadUInt32LittleEndian(word);
    }

    private static void Send(Stream s, byte[] input)
    {
        var word = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(word, (uint)input.Length);
        s.Write(word);
        s.Write(input);
        s.Flush();
    }

    [Fact]
    public async Task LibFuzzer_Handshake_StatusPerInput_CrashNonZero_MapCopied()
    {
        using var control = new PipePair();
        using var status = new PipePair();
        using SharedMemoryMap map = SharedMemoryMap.Create(1 << 16);
        var server = new LibFuzzerPipeServer(new FakeGlueTarget(), control.Reader, status.Writer, map);
        Task<(bool Ok, string? Error)> serving = Task.Run(() => (server.Serve(out string? e), e));

        Assert.Equal(LibFuzzerPipeServer.Magic, ReadWord(status.Reader));
        Assert.Equal(1u << 16, ReadWord(status.Reader));
        byte[][] inputs = [[5, 6], [0xFF], [], [9, 9, 9]];
        var shared = new byte[map.Size];
        foreach (byte[] input in inputs)
        {
            Send(control.Writer, input);
            uint s = ReadWord(status.Reader);
            Assert.Equal(input is [0xFF, ..] ? (uint)GlueVerdict.SignalAbort : 0u, s);
            map.Read(shared);
            Assert.Equal(input.Length, shared.Sum(b => (int)b));
            foreach (byte b in input) Assert.NotEqual(0, shared[1000 + b]);
        }
        control.Writer.Dispose();
        (bool ok, string? error) = await serving;
        Assert.True(ok, error);
        Assert.Equal(inputs.Length, server.Runs);
        Assert.Equal(1, server.Crashes);
    }

    [Fact]
    public async Task LibFuzzer_OversizedLength_IsAProtocolError()
    {
        using var control = new PipePair();
        using var status = new PipePair();
        using SharedMemoryMap map = SharedMemoryMap.Create(1 << 16);
        var server = new LibFuzzerPipeServer(new FakeGlueTarget(), control.Reader, status.Writer, map);
        Task<(bool Ok, string? Error)> serving = Task.Run(() => (server.Serve(out string? e), e));
        _ = ReadWord(status.Reader);
        _ = ReadWord(status.Reader);
        control.Writer.Write([0xFF, 0xFF, 0xFF, 0x7F]);
        control.Writer.Flush();
        (bool ok, string? error) = await serving;
        Assert.False(ok);
        Assert.Contains("InputBytesMax", error, StringComparison.Ordinal);
    }
}
