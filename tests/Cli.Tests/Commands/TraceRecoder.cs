using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Xunit;

namespace Virtsim.Cli.Tests.Commands;

/// <summary>Writes a recorded trace again through <see cref="TraceWriter"/> with its header's checkpoint
/// interval, one event or the footer's end time changed: a well-formed trace whose footer agrees with its
/// events, so a replay sees a divergence, not a corrupt file.</summary>
internal static class TraceRecoder
{
    public static byte[] Recode(
        byte[] trace,
        long? checkpointInterval = null,
        Func<int, TraceRecord, TraceRecord>? edit = null,
        long endTimeDelta = 0
    )
    {
        Assert.True(
            TraceReader.TryOpen(new MemoryStream(trace), out TraceReader? reader, out TraceError? error),
            error?.Message
        );
        using (reader)
        {
            Assert.True(reader.TryCreateMemory(out GuestMemory? memory, out error), error?.Message);
            Assert.True(reader.TryReadInitialMemory(memory, out error), error?.Message);
            TraceHeader h = reader.Header;
            var header = new TraceHeader
            {
                VirtsimVersion = h.VirtsimVersion,
                GitCommit = h.GitCommit,
                Seed = h.Seed,
                Scenario = h.Scenario,
                Options = h.Options,
                Origin = h.Origin,
                Host = h.Host,
                Devices = h.Devices,
                MemoryLayout = h.MemoryLayout,
                CheckpointIntervalEvents = checkpointInterval ?? h.CheckpointIntervalEvents,
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
                writer.Complete(reader.Footer.MemoryHash, reader.Footer.EndTime + endTimeDelta);
            }
            return output.ToArray();
        }
    }
}
