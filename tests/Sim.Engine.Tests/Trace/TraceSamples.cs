using Sim.Engine.Memory;
using Sim.Engine.Trace;

namespace Sim.Engine.Tests.Trace;

/// <summary>Sample headers, memories and traces for the trace tests.</summary>
internal static class TraceSamples
{
    public static readonly MemoryLayout Layout = new([
        new RegionSpec(0, 64 * 1024),
        new RegionSpec(0x100000, 3 * 4096 + 100),
    ]);

    public static TraceHeader Header(
        MemoryLayout? layout = null,
        TraceOrigin origin = TraceOrigin.Simulated,
        long checkpointIntervalEvents = 0
    ) =>
        new()
        {
            VirtsimVersion = "0.1.0-test",
            GitCommit = "0123456789abcdef0123456789abcdef01234567",
            Seed = 42,
            Scenario = "virtio-net-echo",
            Options = new(StringComparer.Ordinal)
            {
                ["queue-size"] = "256",
                ["event-idx"] = "on",
                ["b"] = "é",
            },
            Origin = origin,
            Host = origin == TraceOrigin.Kvm ? new TraceHost("6.8.0-45-generic", 12, "kvm-intel") : null,
            Devices = new(StringComparer.Ordinal) { ["net0"] = "virtio-net-pci,mq=off" },
            MemoryLayout = layout ?? Layout,
            CheckpointIntervalEvents = checkpointIntervalEvents,
        };

    /// <summary>Memory with a few non-zero pages: a run longer than one chunk, an isolated page,
    /// and the partial last page of the second region.</summary>
    public static GuestMemory Memory()
    {
        Assert(GuestMemory.TryCreate(Layout, out GuestMemory? m, out _));
        using (m!.As(MemoryActor.Host))
        {
            for (int i = 0; i < 4096 * 3; i++)
                m.TryWriteUInt8(new GuestAddress(0x1000 + (ulong)i), (byte)(i * 7));
            m.TryWriteUInt64(new GuestAddress(0x8000), 0x1122334455667788);
            m.TryWriteUInt32(new GuestAddress(0x100000 + 3 * 4096 + 96), 0xdeadbeef);
            for (int i = 0; i < 4096 * 2; i++)
                m.TryWriteUInt8(new GuestAddress(0x100000 + (ulong)i), (byte)(i ^ (i >> 8)));
        }
        return m;
    }

    public static GuestMemory FullMemory()
    {
        Assert(GuestMemory.TryCreate(new MemoryLayout([new RegionSpec(0, 40 * 4096)]), out GuestMemory? m, out _));
        using (m!.As(MemoryActor.Host))
        {
            for (int i = 0; i < 40 * 4096; i += 8)
                m.TryWriteUInt64(new GuestAddress((ulong)i), unchecked((ulong)i * 0x9E3779B97F4A7C15UL));
        }
        return m;
    }

    public static TraceRecord[] Events(int count, int seed = 1)
    {
        var prng = new Sim.Engine.Random.Prng((ulong)seed);
        var events = new TraceRecord[count];
        long time = 0;
        for (int i = 0; i < count; i++)
        {
            time += (long)prng.UInt64LessThan(5000);
            var kind = (TraceEventKind)(1 + (int)prng.UInt64LessThan(18));
            byte[] data = new byte[
                (int)prng.UInt64LessThan(3) switch
                {
                    0 => 0,
                    1 => 4,
                    _ => (int)prng.UInt64LessThan(100),
                }
            ];
            for (int k = 0; k < data.Length; k++)
                data[k] = prng.NextByte();
            events[i] = new TraceRecord(
                kind,
                time,
                (uint)prng.UInt64LessThan(8),
                0xfe000000 + prng.UInt64LessThan(4096),
                prng.NextUInt64() >> (int)prng.UInt64LessThan(64),
                data
            );
        }
        return events;
    }

    public static byte[] Write(
        TraceHeader header,
        GuestMemory memory,
        IEnumerable<TraceRecord> events,
        bool complete = true
    )
    {
        var stream = new MemoryStream();
        using (var writer = new TraceWriter(stream, header, memory, leaveOpen: true))
        {
            long end = 0;
            foreach (TraceRecord e in events)
            {
                writer.Write(e.ToEvent());
                end = e.Time;
            }
            if (complete)
                writer.Complete(memory.ContentHash(), end);
        }
        return stream.ToArray();
    }

    public const ulong TestMemoryBytesMax = 16 << 20;

    public static byte[] Sample(int events = 50, bool complete = true) =>
        Write(Header(), Memory(), Events(events), complete);

    /// <summary>Reads everything; returns the events, and the footer or the error. Never more than
    /// <paramref name="eventsMax"/> events (a guard against a reader that would not stop).</summary>
    public static (List<TraceRecord> Events, TraceFooter? Footer, TraceError? Error, TraceReader? Reader) ReadAll(
        byte[] bytes,
        bool loadMemory = true,
        int eventsMax = 1_000_000
    )
    {
        var events = new List<TraceRecord>();
        if (!TraceReader.TryOpen(new MemoryStream(bytes), out TraceReader? reader, out TraceError? error))
            return (events, null, error, null);
        if (loadMemory)
        {
            // Mutated layouts could ask for up to 4 GiB; tests cap what they allocate.
            if (!reader.TryCreateMemory(out GuestMemory? memory, out error, TestMemoryBytesMax))
                return (events, null, error, reader);
            if (!reader.TryReadInitialMemory(memory, out error))
                return (events, null, error, reader);
        }
        while (reader.TryReadNext(out TraceEvent ev, out error))
        {
            events.Add(TraceRecord.From(ev));
            if (events.Count > eventsMax)
                throw new InvalidOperationException("reader did not stop");
        }
        return (events, reader.Footer, error, reader);
    }

    private static void Assert(bool condition)
    {
        if (!condition)
            throw new InvalidOperationException("sample setup failed");
    }
}
