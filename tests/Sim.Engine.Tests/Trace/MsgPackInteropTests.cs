using System.Buffers;
using System.Diagnostics;
using MessagePack;
using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Sim.Engine.Trace.Codec;
using Xunit;
using Xunit.Abstractions;

namespace Sim.Engine.Tests.Trace;

/// <summary>Both directions against msgpack-python, the reference implementation, through
/// scripts/msgpack_interop.py run by /usr/bin/python3 (CI installs python3-msgpack).</summary>
public sealed class MsgPackInteropTests(ITestOutputHelper output) : IDisposable
{
    private const string Interpreter = "/usr/bin/python3";
    private const int ProcessTimeoutMs = 120_000;
    private readonly string _dir = Directory.CreateTempSubdirectory("virtsim-interop-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Script()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "scripts", "msgpack_interop.py");
            if (File.Exists(Path.Combine(dir.FullName, "virtsim.slnx")) && File.Exists(candidate))
                return candidate;
        }
        throw new InvalidOperationException("scripts/msgpack_interop.py not found above " + AppContext.BaseDirectory);
    }

    private (int ExitCode, string Stdout, string Stderr) Python(params string[] args)
    {
        if (!File.Exists(Interpreter))
            Assert.Fail($"{Interpreter} is missing: apt-get install python3 python3-msgpack");
        var psi = new ProcessStartInfo(Interpreter)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        using Process p = Process.Start(psi)!;
        System.Threading.Tasks.Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        System.Threading.Tasks.Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(ProcessTimeoutMs))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"python did not finish within {ProcessTimeoutMs} ms: {string.Join(' ', args)}");
        }
        p.WaitForExit();
        var result = (p.ExitCode, stdout.Result, stderr.Result);
        output.WriteLine($"python {string.Join(' ', args)} -> {result.ExitCode}\n{result.Item2}{result.Item3}");
        return result;
    }

    private void RequireMsgpack()
    {
        var (code, _, _) = Python("-c", "import msgpack");
        if (code != 0)
            Assert.Fail($"{Interpreter} cannot import msgpack: apt-get install python3-msgpack");
    }

    private string Save(string name, byte[] bytes)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void Python_DecodesVirtsimTraces()
    {
        RequireMsgpack();
        string simulated = Save("sim.trace", TraceSamples.Sample(300));
        var (code, stdout, stderr) = Python(Script(), "check", simulated);
        Assert.True(code == 0, stderr);
        Assert.Contains("300 events", stdout, StringComparison.Ordinal);

        GuestMemory full = TraceSamples.FullMemory();
        TraceRecord[] events =
        [
            .. TraceSamples.Events(100, seed: 3),
            new TraceRecord(
                TraceEventKind.DeviceWrite,
                long.MinValue,
                uint.MaxValue,
                ulong.MaxValue,
                ulong.MaxValue,
                new byte[70000]
            ),
        ];
        string kvm = Save(
            "kvm.trace",
            TraceSamples.Write(TraceSamples.Header(full.Layout, TraceOrigin.Kvm), full, events)
        );
        (code, _, stderr) = Python(Script(), "check", kvm);
        Assert.True(code == 0, stderr);
    }

    [Fact]
    public void Python_RejectsATruncatedTrace()
    {
        RequireMsgpack();
        var (code, _, stderr) = Python(Script(), "check", Save("cut.trace", TraceSamples.Sample(10, complete: false)));
        Assert.Equal(1, code);
        Assert.Contains("no footer", stderr, StringComparison.Ordinal);
    }

    /// <summary>Event i of the script's sample trace (mirrors sample_event in msgpack_interop.py).</summary>
    private static TraceRecord SampleEvent(int i)
    {
        ulong u = (ulong)i;
        byte[] data =
            i == 99
                ? Enumerable.Range(0, 70000).Select(k => (byte)k).ToArray()
                : Enumerable.Range(0, i % 9).Select(k => (byte)(i + k)).ToArray();
        return new TraceRecord(
            (TraceEventKind)(1 + (i % 18)),
            i == 50 ? long.MinValue : i * 1000L,
            unchecked((uint)(u * 2654435761UL)),
            i % 3 == 0 ? ulong.MaxValue - u : 0x1000 + u,
            i % 5 == 0 ? ulong.MaxValue : u * u,
            data
        );
    }

    [Fact]
    public void Virtsim_ReadsAPythonWrittenTrace()
    {
        RequireMsgpack();
        string path = Path.Combine(_dir, "py.trace");
        var (code, _, stderr) = Python(Script(), "write-sample", path);
        Assert.True(code == 0, stderr);
        var (events, footer, error, reader) = TraceSamples.ReadAll(File.ReadAllBytes(path));
        Assert.True(error is null, error?.Message);
        TraceHeader h = reader!.Header;
        Assert.Equal(ulong.MaxValue, h.Seed);
        Assert.Equal(TraceOrigin.Kvm, h.Origin);
        Assert.Equal(new TraceHost("6.8.0-test", 12, "kvm-intel"), h.Host);
        Assert.Equal("é", h.Options["b"]);
        Assert.Equal([new RegionSpec(0, 64 * 1024), new RegionSpec(0x100000, 8192)], h.MemoryLayout.Regions);
        Assert.Equal(Enumerable.Range(0, 100).Select(SampleEvent), events);
        Assert.Equal(123456789, footer!.EndTime);

        // The initial memory, loaded and hash-checked by the reader.
        Assert.True(TraceReader.TryOpen(File.OpenRead(path), out TraceReader? r2, out _));
        Assert.True(
            r2.TryCreateMemory(out GuestMemory? memory, out _) && r2.TryReadInitialMemory(memory, out error),
            error?.Message
        );
        byte[] hello = new byte[5];
        Assert.True(memory.TryRead(new GuestAddress(0x2000), hello));
        Assert.Equal("hello"u8.ToArray(), hello);
        r2.Dispose();
    }

    [Fact]
    public void Virtsim_DecodesEveryTypeMsgpackPythonWrites_AndReencodesIdentically()
    {
        RequireMsgpack();
        string path = Path.Combine(_dir, "values.bin");
        var (code, _, stderr) = Python(Script(), "write-values", path);
        Assert.True(code == 0, stderr);
        byte[] bytes = File.ReadAllBytes(path);
        var reader = new MessagePackReader(bytes);
        var values = new List<MpValue>();
        while (!reader.End)
        {
            long start = reader.Consumed;
            MpValue v = MpValue.Decode(ref reader);
            values.Add(v);
            if (bytes[start] == MsgPackCode.Float32)
                continue; // re-encoded as float 64 by the model
            // Canonical encodings agree byte for byte with msgpack-python's.
            var buffer = new ArrayBufferWriter<byte>();
            var w = new Packer(buffer);
            MpValue.Encode(w, v);
            Packer.Flush();
            Assert.True(
                buffer.WrittenSpan.SequenceEqual(bytes.AsSpan((int)start, (int)(reader.Consumed - start))),
                $"value {values.Count - 1} at byte {start} re-encodes differently: {v}"
            );
        }
        Assert.Equal(69, values.Count);
        Int128[] ints =
        [
            0,
            1,
            127,
            128,
            255,
            256,
            65535,
            65536,
            uint.MaxValue,
            1UL << 32,
            long.MaxValue,
            1UL << 63,
            ulong.MaxValue,
            -1,
            -32,
            -33,
            -128,
            -129,
            -32768,
            -32769,
            int.MinValue,
            (long)int.MinValue - 1,
            long.MinValue,
        ];
        Assert.Equal(
            new MpValue[] { new MpValue.Nil(), new MpValue.Bool(true), new MpValue.Bool(false) },
            values.Take(3)
        );
        Assert.Equal(ints.Select(i => (MpValue)new MpValue.Int(i)), values.Skip(3).Take(ints.Length));
        Assert.Contains(new MpValue.Str("é日本😀"), values);
        Assert.Contains(new MpValue.Ext(-1, [0, 0, 0, 1]), values); // timestamp 32
        Assert.Contains(values, v => v is MpValue.Ext { Type: -1, Data.Length: 12 }); // timestamp 96
        Assert.Contains(values, v => v is MpValue.Arr { Items.Length: 65536 });
        Assert.Equal(new MpValue.F64(0.25), values[^1]);
    }
}
