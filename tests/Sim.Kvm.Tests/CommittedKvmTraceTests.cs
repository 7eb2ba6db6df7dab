using Sim.Engine.Trace;
using Sim.Scenarios.Recording;

namespace Sim.Kvm.Tests;

/// <summary>The committed real-KVM recordings (traces/kvm-lab/recorder, kvm_amd) replay byte-exact on any machine,
/// and a recording altered in one event no longer does.</summary>
public class CommittedKvmTraceTests
{
    private static string TraceDir()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "traces", "kvm-lab", "recorder");
            if (Directory.Exists(candidate))
                return candidate;
        }
        throw new InvalidOperationException("traces/kvm-lab/recorder not found above the test binaries");
    }

    public static TheoryData<string> Traces =>
        new() { "tiny", "demo", "virtio-demo", "vhost-demo", "factorial", "counter", "blk", "stress" };

    [Theory]
    [MemberData(nameof(Traces))]
    public void CommittedRecording_Replays(string name)
    {
        string path = Path.Combine(TraceDir(), name + ".vtrace");
        KvmReplayResult r = KvmTraceReplay.Replay(() => File.OpenRead(path));
        Assert.True(r.Verdict == KvmReplayVerdict.Match, r.Detail);
        Assert.True(r.RecordedNs > 0);
    }

    [Theory]
    [InlineData(TraceEventKind.DeviceWrite, 0)]
    [InlineData(TraceEventKind.MmioRead, 2)]
    [InlineData(TraceEventKind.PioIn, 5)]
    public void CommittedRecording_WithOneOutputForged_Diverges(TraceEventKind kind, int index)
    {
        byte[] forged = Rewrite(Path.Combine(TraceDir(), "virtio-demo.vtrace"), kind, index);
        KvmReplayResult r = KvmTraceReplay.Replay(() => new MemoryStream(forged));
        Assert.Equal(KvmReplayVerdict.Diverged, r.Verdict);
        Assert.Contains(kind.ToString(), r.Detail, StringComparison.Ordinal);
        Assert.Contains("^", r.Detail, StringComparison.Ordinal); // the hex diff's caret
    }

    /// <summary>Copies a trace event for event through a <see cref="TamperingSink"/>, with its header, initial memory
    /// and a footer recomputed by the writer (so only the forged event differs).</summary>
    private static byte[] Rewrite(string path, TraceEventKind kind, int index)
    {
        using FileStream input = File.OpenRead(path);
        Assert.True(TraceReader.TryOpen(input, out TraceReader? reader, out TraceError? error), error?.Message);
        using (reader)
        {
            Assert.True(reader!.TryCreateMemory(out var memory, out error), error?.Message);
            Assert.True(reader.TryReadInitialMemory(memory!, out error), error?.Message);
            using var output = new MemoryStream();
            using (var writer = new TraceWriter(output, reader.Header, memory!, leaveOpen: true))
            {
                var sink = new TamperingSink(writer, kind, index);
                while (reader.TryReadNext(out TraceEvent ev, out error))
                {
                    if (ev.Kind != TraceEventKind.Checkpoint)
                        sink.Write(in ev); // none in these short traces (interval 4096)
                }
                Assert.Null(error);
                writer.Complete(reader.Footer!.MemoryHash, reader.Footer.EndTime);
            }
            return output.ToArray();
        }
    }
}
