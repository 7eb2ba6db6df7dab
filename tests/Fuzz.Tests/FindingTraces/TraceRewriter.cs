using Sim.Engine.Memory;
using Sim.Engine.Trace;

namespace Fuzz.Tests.FindingTraces;

/// <summary>Re-encodes a trace with its header options or its events changed (a well-formed file whose footer matches
/// its events, so a replay sees a divergence rather than a corrupt trace).</summary>
internal static class TraceRewriter
{
    public delegate TraceRecord EventEdit(int index, TraceRecord record);

    public static byte[] Rewrite(
        byte[] trace,
        Action<SortedDictionary<string, string>>? options = null,
        EventEdit? edit = null
    )
    {
        using var input = new MemoryStream(trace);
        Assert.True(TraceReader.TryOpen(input, out TraceReader? reader, out TraceError? error), error?.Message);
        using (reader)
        {
            Assert.True(reader.TryCreateMemory(out GuestMemory? memory, out error), error?.Message);
            Assert.True(reader.TryReadInitialMemory(memory, out error), error?.Message);
            TraceHeader h = reader.Header;
            var changed = new SortedDictionary<string, string>(h.Options, StringComparer.Ordinal);
            options?.Invoke(changed);
            var header = new TraceHeader
            {
                VirtsimVersion = h.VirtsimVersion,
                GitCommit = h.GitCommit,
                Seed = h.Seed,
                Scenario = h.Scenario,
                Options = changed,
                Origin = h.Origin,
                Devices = h.Devices,
                MemoryLayout = h.MemoryLayout,
                CheckpointIntervalEvents = h.CheckpointIntervalEvents,
            };
            using var output = new MemoryStream();
            using (var writer = new TraceWriter(output, header, memory, leaveOpen: true))
            {
                int index = 0;
                while (reader.TryReadNext(out TraceEvent ev, out error))
                {
                    TraceRecord r = TraceRecord.From(ev);
                    writer.Write((edit is null ? r : edit(index, r)).ToEvent());
                    index++;
                }
                Assert.Null(error);
                Assert.True(reader.IsComplete);
                writer.Complete(reader.Footer.MemoryHash, reader.Footer.EndTime);
            }
            return output.ToArray();
        }
    }
}
