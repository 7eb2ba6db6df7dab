using Sim.Engine.Trace;
using Sim.Scenarios.Recording;

namespace Sim.Kvm.Tests;

/// <summary>Replay of KVM-origin traces (no KVM needed): the recorded inputs drive the rebuilt machine, every event
/// and the final memory are compared, and a forged recording is caught at its first forged event.</summary>
public class KvmTraceReplayTests
{
    [Fact]
    public void SyntheticDemoRecording_ReplaysEventForEvent()
    {
        byte[] trace = SyntheticRecording.RecordDemo();
        KvmReplayResult r = KvmTraceReplay.Replay(() => new MemoryStream(trace));
        Assert.True(r.Verdict == KvmReplayVerdict.Match, r.Detail);
        Assert.True(r.Events > 20, $"{r.Events} events");
        Assert.Contains("open /dev/demo success..", r.Console);
    }

    [Fact]
    public void Recording_HoldsTheInputsAndTheDeviceAnswers()
    {
        byte[] trace = SyntheticRecording.RecordDemo();
        Assert.True(
            TraceReader.TryOpen(new MemoryStream(trace), out TraceReader? reader, out TraceError? error),
            error?.Message
        );
        using (reader)
        {
            Assert.Equal(TraceOrigin.Kvm, reader!.Header.Origin);
            Assert.Equal("test cpu", reader.Header.Host!.CpuModel);
            var mmioReads = new List<string>();
            int guestWrites = 0,
                console = 0;
            while (reader.TryReadNext(out TraceEvent ev, out _))
            {
                if (ev.Kind == TraceEventKind.MmioRead)
                    mmioReads.Add(Convert.ToHexString(ev.Data));
                if (ev.Kind == TraceEventKind.GuestWrite)
                    guestWrites++;
                if (ev.Kind == TraceEventKind.DebugPort && ev.Source == 1)
                    console++;
            }
            Assert.Equal(["33130000", "33230000", "33330000"], mmioReads);
            Assert.Equal(2, guestWrites);
            Assert.Equal("open /dev/demo success..\n".Length, console);
        }
    }

    [Fact]
    public void ForgedReadValue_DivergesAtThatEventWithAHexDiff()
    {
        byte[] trace = SyntheticRecording.RecordDemo(w => new TamperingSink(w, TraceEventKind.MmioRead, 1));
        KvmReplayResult r = KvmTraceReplay.Replay(() => new MemoryStream(trace));
        Assert.Equal(KvmReplayVerdict.Diverged, r.Verdict);
        Assert.Contains("MmioRead", r.Detail, StringComparison.Ordinal);
        Assert.Contains("expected:", r.Detail, StringComparison.Ordinal);
        Assert.Contains("cc 23 00 00", r.Detail, StringComparison.Ordinal); // the forged first byte 0x33 ^ 0xFF
    }

    [Fact]
    public void ForgedGuestStore_ChangesTheFinalMemoryAndDiverges()
    {
        // A forged GuestWrite is an input: the replay applies it, so the events still match but the memory does not.
        byte[] trace = SyntheticRecording.RecordDemo(w => new TamperingSink(w, TraceEventKind.GuestWrite, 0));
        KvmReplayResult r = KvmTraceReplay.Replay(() => new MemoryStream(trace));
        Assert.Equal(KvmReplayVerdict.Diverged, r.Verdict);
    }

    [Fact]
    public void TruncatedRecording_IsAnErrorNotAMatch()
    {
        byte[] trace = SyntheticRecording.RecordDemo();
        byte[] cut = trace[..(trace.Length - 40)];
        KvmReplayResult r = KvmTraceReplay.Replay(() => new MemoryStream(cut));
        Assert.NotEqual(KvmReplayVerdict.Match, r.Verdict);
    }

    [Fact]
    public void DifferentialReplay_OfTheSameBackend_ComparesGuestVisibleEvents()
    {
        byte[] trace = SyntheticRecording.RecordDemo();
        KvmReplayResult r = KvmTraceReplay.Replay(() => new MemoryStream(trace), "demo");
        Assert.True(r.Verdict == KvmReplayVerdict.Match, r.Detail);
    }
}
