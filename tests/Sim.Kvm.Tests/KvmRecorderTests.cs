using Sim.Engine.Trace;
using Sim.Scenarios.Recording;

namespace Sim.Kvm.Tests;

/// <summary>The recorder on a real /dev/kvm (skipped with the reason where there is none): a few bytes of 32-bit
/// machine code doing a console line, a PCI configuration read of the demo device, a store to memory and the exit
/// port, recorded and then replayed; and the committed guests when guest/build has built them.</summary>
public class KvmRecorderTests
{
    /// <summary>mov dx,0xE9; mov al,'K'; out dx,al; mov al,10; out dx,al; mov dx,0xCF8; mov eax,0x80001800 (bus 0
    /// slot 3 register 0); out dx,eax; mov dx,0xCFC; in eax,dx; mov dx,0xE9; out dx,eax (a debug value);
    /// mov dword [0x200000],0x12345678; mov dx,0xF4; xor eax,eax; out dx,eax; hlt; jmp $-1.</summary>
    internal static readonly byte[] TinyGuest =
    [
        0x66,
        0xBA,
        0xE9,
        0x00,
        0xB0,
        0x4B,
        0xEE,
        0xB0,
        0x0A,
        0xEE,
        0x66,
        0xBA,
        0xF8,
        0x0C,
        0xB8,
        0x00,
        0x18,
        0x00,
        0x80,
        0xEF,
        0x66,
        0xBA,
        0xFC,
        0x0C,
        0xED,
        0x66,
        0xBA,
        0xE9,
        0x00,
        0xEF,
        0xC7,
        0x05,
        0x00,
        0x00,
        0x20,
        0x00,
        0x78,
        0x56,
        0x34,
        0x12,
        0x66,
        0xBA,
        0xF4,
        0x00,
        0x31,
        0xC0,
        0xEF,
        0xF4,
        0xEB,
        0xFD,
    ];

    private static (RecordResult Result, byte[] Trace) Record(
        string scenario,
        byte[] image,
        string guest,
        Dictionary<string, string>? options = null,
        string backend = "virtio",
        bool trace = true
    )
    {
        Assert.True(KvmSystem.TryOpen(out KvmSystem? kvm, out string reason), reason);
        using (kvm)
        using (var stream = new MemoryStream())
        {
            var request = new RecordRequest(
                scenario,
                options ?? new Dictionary<string, string>(),
                guest,
                image,
                backend,
                "test",
                "test"
            )
            {
                Timeout = TimeSpan.FromSeconds(60),
                Trace = trace,
            };
            RecordResult r = KvmRecorder.Record(kvm!, request, stream);
            return (r, stream.ToArray());
        }
    }

    [KvmFact]
    public void TinyGuest_IsRecordedAndReplays()
    {
        (RecordResult r, byte[] trace) = Record("demo", TinyGuest, "tiny");
        Assert.Equal(0u, r.GuestStatus);
        Assert.Contains("K", r.Report);
        Assert.True(
            TraceReader.TryOpen(new MemoryStream(trace), out TraceReader? reader, out TraceError? error),
            error?.Message
        );
        bool sawStore = false,
            sawIds = false;
        using (reader)
        {
            Assert.Equal(TraceOrigin.Kvm, reader!.Header.Origin);
            Assert.Equal("tiny", reader.Header.Options["guest"]);
            while (reader.TryReadNext(out TraceEvent ev, out _))
            {
                if (
                    ev.Kind == TraceEventKind.GuestWrite
                    && ev.Address <= 0x20_0000
                    && ev.Address + (ulong)ev.Data.Length >= 0x20_0004
                )
                    sawStore = true;
                if (ev.Kind == TraceEventKind.DebugPort && ev.Source == 0 && ev.Value == 0xDE00_1234)
                    sawIds = true;
            }
        }
        Assert.True(sawStore, "the guest's store to 0x200000 is a GuestWrite");
        Assert.True(sawIds, "the PCI read returned the demo device's ids, and the guest sent them to the debug port");
        KvmReplayResult replay = KvmTraceReplay.Replay(() => new MemoryStream(trace));
        Assert.True(replay.Verdict == KvmReplayVerdict.Match, replay.Detail);
    }

    [KvmFact]
    public void BuiltGuests_AreRecordedAndReplay()
    {
        string? dir = FindGuestOut();
        if (dir is null)
        {
            Console.WriteLine("BuiltGuests_AreRecordedAndReplay: guest/out not built (guest/build): nothing to record");
            return;
        }
        foreach (
            (string scenario, string guest) in new[]
            {
                ("demo", "demo"),
                ("virtio-demo", "virtio-demo"),
                ("vhost-demo", "vhost-demo"),
                ("factorial", "factorial"),
                ("blk", "blk"),
            }
        )
        {
            string path = Path.Combine(dir, guest + ".bin");
            if (!File.Exists(path))
                continue;
            (RecordResult r, byte[] trace) = Record(scenario, File.ReadAllBytes(path), guest);
            Assert.True(r.GuestStatus == 0, $"{guest}: status {r.GuestStatus}: {string.Join(" | ", r.Report)}");
            KvmReplayResult replay = KvmTraceReplay.Replay(() => new MemoryStream(trace));
            Assert.True(replay.Verdict == KvmReplayVerdict.Match, $"{guest}: {replay.Detail}");
        }
    }

    [KvmFact]
    public void RecorderOff_RunsTheGuestAndWritesNothing()
    {
        (RecordResult r, byte[] trace) = Record("demo", TinyGuest, "tiny", trace: false);
        Assert.Equal(0u, r.GuestStatus);
        Assert.Contains("K", r.Report);
        Assert.False(r.Traced);
        Assert.Empty(trace);
        Assert.Equal(0, r.TraceBytes);
        Assert.True(r.Events > 0, "the machine still emits its events (to no sink)");
        Assert.Equal(6, r.Exits); // 2 console OUTs, 2 PCI accesses, the debug value, the exit port
    }

    /// <summary>The vhost backend's call eventfd reaches the guest through a real KVM_IRQFD on an MSI route: every
    /// completion interrupt of the recording is a write to the real irqfd (none goes through KVM_SIGNAL_MSI), the
    /// guest takes them (status 0) and the trace replays byte-exact.</summary>
    [KvmFact]
    public void VhostBackend_CallsThroughARealIrqFd_AndReplays()
    {
        string? dir = FindGuestOut();
        if (dir is null)
        {
            Console.WriteLine(
                "VhostBackend_CallsThroughARealIrqFd_AndReplays: guest/out not built (guest/build): nothing to record"
            );
            return;
        }
        var options = new Dictionary<string, string> { ["requests"] = "2" };
        (RecordResult r, byte[] trace) = Record(
            "vhost-demo",
            File.ReadAllBytes(Path.Combine(dir, "vhost-demo.bin")),
            "vhost-demo",
            options,
            backend: "vhost"
        );
        Assert.True(r.GuestStatus == 0, string.Join(" | ", r.Report));
        Assert.Equal(1, r.IrqFdsAssigned);
        // 2 rounds of the test program, 6 kicked requests each, one completion interrupt each.
        Assert.Equal(12, r.IrqFdSignals);
        Assert.Equal(r.IrqFdSignals, r.Interrupts);
        Assert.Equal(12, r.Kicks);
        Assert.True(
            TraceReader.TryOpen(new MemoryStream(trace), out TraceReader? reader, out TraceError? error),
            error?.Message
        );
        int irqfdInjections = 0;
        using (reader)
        {
            while (reader!.TryReadNext(out TraceEvent ev, out _))
            {
                if (ev.Kind == TraceEventKind.IrqInject && ev.Source != 0)
                    irqfdInjections++;
            }
        }
        Assert.Equal(12, irqfdInjections);
        KvmReplayResult replay = KvmTraceReplay.Replay(() => new MemoryStream(trace));
        Assert.True(replay.Verdict == KvmReplayVerdict.Match, replay.Detail);
    }

    private static string? FindGuestOut()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "guest", "out");
            if (File.Exists(Path.Combine(candidate, "demo.bin")))
                return candidate;
        }
        return null;
    }
}
