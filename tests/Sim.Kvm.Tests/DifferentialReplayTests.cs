using Sim.Engine.Trace;
using Sim.Scenarios.Recording;

namespace Sim.Kvm.Tests;

/// <summary>
/// <c>virtsim replay --backend</c> on the committed real-KVM recordings (traces/kvm from this machine's PVM
/// /dev/kvm, traces/kvm-lab from the lab's kvm_amd): a virtio-demo recording replayed against the vhost-demo model
/// and back matches on everything the guest can see, the legitimate differences (how writes are split, the
/// notification-suppression fields) are not reported, and a real divergence in a device's output is.
/// </summary>
public class DifferentialReplayTests
{
    private static string Traces()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "traces");
            if (Directory.Exists(Path.Combine(candidate, "kvm-lab")))
                return candidate;
        }
        throw new InvalidOperationException("traces/ not found above the test binaries");
    }

    /// <summary>Every committed KVM recording of the virtio-demo queue, and the scenario of the other
    /// backend.</summary>
    public static TheoryData<string, string> QueueRecordings =>
        new()
        {
            { "kvm/virtio-demo.vtrace", "vhost-demo" },
            { "kvm/vhost-demo.vtrace", "virtio-demo" },
            { "kvm/stress.vtrace", "vhost-demo" },
            { "kvm-lab/virtio-demo.vtrace", "vhost-demo" },
            { "kvm-lab/vhost-demo.vtrace", "virtio-demo" },
            { "kvm-lab/recorder/virtio-demo.vtrace", "vhost-demo" },
            { "kvm-lab/recorder/vhost-demo.vtrace", "virtio-demo" },
            { "kvm-lab/recorder/stress.vtrace", "vhost-demo" },
            { "kvm-lab/kernel-vhost.vtrace", "virtio-demo" },
            { "kvm-lab/kernel-vhost-direct.vtrace", "virtio-demo" },
        };

    [Theory]
    [MemberData(nameof(QueueRecordings))]
    public void Recording_AgainstTheOtherBackend_Matches(string trace, string other)
    {
        string path = Path.Combine(Traces(), trace);
        KvmReplayResult r = KvmTraceReplay.Replay(() => File.OpenRead(path), other);
        Assert.True(r.Verdict == KvmReplayVerdict.Match, r.Detail);
        Assert.Contains("device_bytes_compared=", r.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void VhostModel_WritesUsedFlagsWhereTheVirtioModelDoesNot_AndThatIsNotReported()
    {
        // The vhost model's own recording holds used->flags writes (vhost_update_used_flags at vhost start,
        // VRING_USED_F_NO_NOTIFY around each run), which the virtio-demo device never makes: the event streams of
        // the two backends differ there, and the differential must not call it a divergence.
        string path = Path.Combine(Traces(), "kvm/vhost-demo.vtrace");
        (ulong usedFlags, int writes) = UsedFlagsWrites(path);
        Assert.True(writes >= 2, $"{writes} used->flags writes at 0x{usedFlags:x}");
        KvmReplayResult r = KvmTraceReplay.Replay(() => File.OpenRead(path), "virtio-demo");
        Assert.True(r.Verdict == KvmReplayVerdict.Match, r.Detail);
    }

    [Fact]
    public void ForgedUsedFlags_IsANotificationHint_SkippedByTheDifferentialButNotByTheExactReplay()
    {
        string path = Path.Combine(Traces(), "kvm/vhost-demo.vtrace");
        (ulong usedFlags, _) = UsedFlagsWrites(path);
        // Leave VRING_USED_F_NO_NOTIFY set where the recording cleared it: a hint the guest may ignore.
        byte[] forged = Rewrite(
            path,
            (in TraceEvent ev) =>
                ev.Kind == TraceEventKind.DeviceWrite
                && ev.Address == usedFlags
                && ev.Data.Length == 2
                && ev.Data[0] == 0,
            1,
            0x01
        );
        KvmReplayResult exact = KvmTraceReplay.Replay(() => new MemoryStream(forged));
        Assert.True(exact.Verdict == KvmReplayVerdict.Diverged, $"{exact.Verdict}: {exact.Detail}");
        KvmReplayResult differential = KvmTraceReplay.Replay(() => new MemoryStream(forged), "virtio-demo");
        // The final-memory rebuild check may say Error: the footer's hash is the original's.
        Assert.NotEqual(KvmReplayVerdict.Diverged, differential.Verdict);
        Assert.DoesNotContain("device-written", differential.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void ForgedResponseByte_IsARealDivergence_NamedWithAHexDiff()
    {
        string path = Path.Combine(Traces(), "kvm/virtio-demo.vtrace");
        (ulong usedFlags, _) = UsedFlagsWrites(Path.Combine(Traces(), "kvm/vhost-demo.vtrace"));
        // The third device write that is not a used-ring header field: a response or a used element.
        byte[] forged = Rewrite(
            path,
            (in TraceEvent ev) =>
                ev.Kind == TraceEventKind.DeviceWrite
                && ev.Data.Length >= 4
                && (ev.Address < usedFlags || ev.Address >= usedFlags + 4),
            2,
            0x5A
        );
        KvmReplayResult r = KvmTraceReplay.Replay(() => new MemoryStream(forged), "vhost-demo");
        Assert.True(r.Verdict == KvmReplayVerdict.Diverged, $"{r.Verdict}: {r.Detail}");
        Assert.Contains("device-written guest memory", r.Detail, StringComparison.Ordinal);
        Assert.Contains("^", r.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void ForgedInterrupt_IsARealDivergence()
    {
        string path = Path.Combine(Traces(), "kvm/virtio-demo.vtrace");
        byte[] forged = RewriteAddress(path, TraceEventKind.IrqInject, 3, 7);
        KvmReplayResult r = KvmTraceReplay.Replay(() => new MemoryStream(forged), "vhost-demo");
        Assert.True(r.Verdict == KvmReplayVerdict.Diverged, $"{r.Verdict}: {r.Detail}");
        Assert.Contains("GSI 7", r.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void KernelVhostRecording_ReplaysAgainstOurVhostModel_OnTheKernelsOwnWrites()
    {
        // traces/kvm-lab/kernel-vhost.vtrace: the lab's real kernel module served the queue; its writes are the
        // trace's DeviceWrite events of the backend's source, and a plain replay checks them against our model.
        string path = Path.Combine(Traces(), "kvm-lab/kernel-vhost.vtrace");
        using (FileStream input = File.OpenRead(path))
        {
            Assert.True(TraceReader.TryOpen(input, out TraceReader? reader, out TraceError? error), error?.Message);
            using (reader)
            {
                Assert.Equal("kernel-vhost", reader!.Header.Options["backend"]);
                Assert.Equal("vhost-demo", reader.Header.Scenario);
                int kernelWrites = 0;
                bool kicked = false;
                while (reader.TryReadNext(out TraceEvent ev, out _))
                {
                    if (
                        ev.Kind == TraceEventKind.DeviceWrite
                        && ev.Source == Sim.Devices.Vhost.Frontend.VhostDemoFrontendDevice.VhostTraceIdDefault
                    )
                        kernelWrites++;
                    kicked |= ev.Kind == TraceEventKind.IoEventFd;
                    // Our model's vhost ran only inside the frontend's start, on an empty ring (its init_access and
                    // first poll read used->idx and avail->idx); from the first kick on, only the kernel served.
                    Assert.False(
                        kicked && ev.Kind == TraceEventKind.DeviceRead,
                        "our model read guest memory after the first kick"
                    );
                }
                Assert.True(kernelWrites >= 48, $"{kernelWrites} kernel writes"); // at least one used->idx per request
            }
        }
        KvmReplayResult r = KvmTraceReplay.Replay(() => File.OpenRead(path));
        Assert.True(r.Verdict == KvmReplayVerdict.Match, r.Detail);
        Assert.Contains("device_bytes_compared=", r.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void KernelVhostDirectRecording_SaysItsWiring_AndReplaysAgainstOurVhostModel()
    {
        // traces/kvm-lab/kernel-vhost-direct.vtrace: kick = the queue's KVM_IOEVENTFD, call = the vector's KVM_IRQFD;
        // the kernel's writes and interrupts come from the module's counters at the next exit (docs/recording.md §5).
        string path = Path.Combine(Traces(), "kvm-lab/kernel-vhost-direct.vtrace");
        using (FileStream input = File.OpenRead(path))
        {
            Assert.True(TraceReader.TryOpen(input, out TraceReader? reader, out TraceError? error), error?.Message);
            using (reader)
            {
                Assert.Equal("kernel-vhost", reader!.Header.Options["backend"]);
                Assert.Equal("direct", reader.Header.Options["kernel_vhost_wiring"]);
                Assert.Equal("at-next-exit", reader.Header.Options["kernel_vhost_timing"]);
                int kernelWrites = 0,
                    kicks = 0,
                    interrupts = 0;
                const uint kernel = Sim.Devices.Vhost.Frontend.VhostDemoFrontendDevice.VhostTraceIdDefault;
                while (reader.TryReadNext(out TraceEvent ev, out _))
                {
                    if (ev.Kind == TraceEventKind.DeviceWrite && ev.Source == kernel)
                        kernelWrites++;
                    if (ev.Kind == TraceEventKind.IoEventFd)
                        kicks++;
                    if (ev.Kind == TraceEventKind.IrqInject && kicks > 0)
                        interrupts++;
                }
                // 8 rounds of 6 requests, each one kick and one vhost_signal.
                Assert.Equal(48, kicks);
                Assert.Equal(48, interrupts);
                Assert.True(kernelWrites >= 48, $"{kernelWrites} kernel writes");
            }
        }
        KvmReplayResult r = KvmTraceReplay.Replay(() => File.OpenRead(path));
        Assert.True(r.Verdict == KvmReplayVerdict.Match, r.Detail);
        // The guest saw the same answers as with the relay (the committed relay trace is of an older guest build,
        // so its memory differs; the console does not).
        string relayPath = Path.Combine(Traces(), "kvm-lab/kernel-vhost.vtrace");
        KvmReplayResult relay = KvmTraceReplay.Replay(() => File.OpenRead(relayPath));
        Assert.Contains("5. read = 3333", string.Join("\n", r.Console), StringComparison.Ordinal);
        Assert.Equal(relay.Console, r.Console);
    }

    [Fact]
    public void KernelVhostDirectRecording_WithOneKernelWriteOrInterruptForged_Diverges()
    {
        string path = Path.Combine(Traces(), "kvm-lab/kernel-vhost-direct.vtrace");
        (ulong usedFlags, _) = UsedFlagsWrites(Path.Combine(Traces(), "kvm/vhost-demo.vtrace"));
        const uint kernel = Sim.Devices.Vhost.Frontend.VhostDemoFrontendDevice.VhostTraceIdDefault;
        byte[] forged = Rewrite(
            path,
            (in TraceEvent ev) =>
                ev.Kind == TraceEventKind.DeviceWrite
                && ev.Source == kernel
                && (ev.Address < usedFlags || ev.Address >= usedFlags + 2),
            9,
            0xA5
        );
        KvmReplayResult r = KvmTraceReplay.Replay(() => new MemoryStream(forged));
        Assert.True(r.Verdict == KvmReplayVerdict.Diverged, $"{r.Verdict}: {r.Detail}");
        Assert.Contains("device-written guest memory", r.Detail, StringComparison.Ordinal);
        byte[] wrongGsi = RewriteAddress(path, TraceEventKind.IrqInject, 5, 7);
        KvmReplayResult g = KvmTraceReplay.Replay(() => new MemoryStream(wrongGsi));
        Assert.True(g.Verdict == KvmReplayVerdict.Diverged, $"{g.Verdict}: {g.Detail}");
    }

    [Fact]
    public void KernelVhostRecording_WithOneKernelWriteForged_Diverges()
    {
        string path = Path.Combine(Traces(), "kvm-lab/kernel-vhost.vtrace");
        (ulong usedFlags, _) = UsedFlagsWrites(Path.Combine(Traces(), "kvm/vhost-demo.vtrace"));
        // The tenth kernel write that is not used->flags (a used->idx byte, a used element or a response byte).
        byte[] forged = Rewrite(
            path,
            (in TraceEvent ev) =>
                ev.Kind == TraceEventKind.DeviceWrite
                && ev.Source == Sim.Devices.Vhost.Frontend.VhostDemoFrontendDevice.VhostTraceIdDefault
                && (ev.Address < usedFlags || ev.Address >= usedFlags + 2),
            9,
            0xA5
        );
        KvmReplayResult r = KvmTraceReplay.Replay(() => new MemoryStream(forged));
        Assert.True(r.Verdict == KvmReplayVerdict.Diverged, $"{r.Verdict}: {r.Detail}");
        Assert.Contains("device-written guest memory", r.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void NotificationFields_KnowUsedFlagsAndAvailEventOnly()
    {
        var f = new NotificationFields();
        f.Add(0x1000, 2);
        f.Add(0x1000 + 4 + (8 * 128), 2);
        Assert.True(f.Contains(0x1000));
        Assert.True(f.Contains(0x1001));
        Assert.False(f.Contains(0x1002)); // used->idx is not a hint
        Assert.False(f.Contains(0x1004)); // nor a used element
        Assert.True(f.Contains(0x1404));
        Assert.False(f.Contains(0x1406));
    }

    /// <summary>The used->flags address of the vhost model's recording: the 2-byte device writes of 01 00
    /// (VRING_USED_F_NO_NOTIFY), and how many 2-byte device writes went there.</summary>
    private static (ulong Address, int Writes) UsedFlagsWrites(string path)
    {
        using FileStream input = File.OpenRead(path);
        Assert.True(TraceReader.TryOpen(input, out TraceReader? reader, out TraceError? error), error?.Message);
        var counts = new Dictionary<ulong, int>();
        ulong noNotify = 0;
        using (reader)
        {
            while (reader!.TryReadNext(out TraceEvent ev, out _))
            {
                if (ev.Kind != TraceEventKind.DeviceWrite || ev.Data.Length != 2)
                    continue;
                counts[ev.Address] = counts.GetValueOrDefault(ev.Address) + 1;
                if (ev.Data[0] == 1 && ev.Data[1] == 0)
                    noNotify = ev.Address;
            }
        }
        Assert.True(noNotify != 0, "no VRING_USED_F_NO_NOTIFY write in the vhost recording");
        return (noNotify, counts[noNotify]);
    }

    private static byte[] Rewrite(string path, Match match, int index, byte firstByte) =>
        Copy(path, (in TraceEvent ev, ref int seen) =>
        {
            if (!match(in ev) || seen++ != index)
                return null;
            byte[] data = ev.Data.ToArray();
            data[0] = firstByte;
            return new Forged(ev.Address, data);
        });

    private static byte[] RewriteAddress(string path, TraceEventKind kind, int index, ulong address) =>
        Copy(path, (in TraceEvent ev, ref int seen) =>
            ev.Kind == kind && seen++ == index ? new Forged(address, ev.Data.ToArray()) : null
        );

    private delegate bool Match(in TraceEvent ev);

    private delegate Forged? Forge(in TraceEvent ev, ref int seen);

    /// <summary>The forged event's address and bytes (everything else is the original's).</summary>
    private sealed record Forged(ulong Address, byte[] Data);

    /// <summary>Copies a trace event for event, replacing the one <paramref name="forge"/> returns, with its
    /// header, initial memory and the original footer's hash (so only the forged event differs).</summary>
    private static byte[] Copy(string path, Forge forge)
    {
        using FileStream input = File.OpenRead(path);
        Assert.True(TraceReader.TryOpen(input, out TraceReader? reader, out TraceError? error), error?.Message);
        using (reader)
        {
            Assert.True(reader!.TryCreateMemory(out var memory, out error), error?.Message);
            Assert.True(reader.TryReadInitialMemory(memory!, out error), error?.Message);
            using var output = new MemoryStream();
            int seen = 0;
            bool forged = false;
            using (var writer = new TraceWriter(output, reader.Header, memory!, leaveOpen: true))
            {
                while (reader.TryReadNext(out TraceEvent ev, out error))
                {
                    if (ev.Kind == TraceEventKind.Checkpoint)
                        continue; // none in these short traces (interval 4096)
                    Forged? replacement = forged ? null : forge(in ev, ref seen);
                    forged |= replacement is not null;
                    if (replacement is null)
                        writer.Write(in ev);
                    else
                        writer.Write(
                            new TraceEvent(ev.Kind, ev.Time, ev.Source, replacement.Address, ev.Value, replacement.Data)
                        );
                }
                Assert.Null(error);
                writer.Complete(reader.Footer!.MemoryHash, reader.Footer.EndTime);
            }
            Assert.True(forged, "nothing matched the forgery");
            return output.ToArray();
        }
    }
}
