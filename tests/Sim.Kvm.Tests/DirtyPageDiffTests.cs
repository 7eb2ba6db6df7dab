using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Sim.Scenarios.Recording;

namespace Sim.Kvm.Tests;

/// <summary>docs/recording.md §3: the pages the dirty log names are compared with the machine's copy and each
/// changed run becomes one GuestWrite; pages that did not change (kvm_amd reports pages the guest only read) cost
/// no event.</summary>
public class DirtyPageDiffTests
{
    private sealed class Collect : ITraceSink
    {
        public List<(ulong Address, byte[] Data)> Writes { get; } = new();

        public void Write(in TraceEvent ev)
        {
            if (ev.Kind == TraceEventKind.GuestWrite)
                Writes.Add((ev.Address, ev.Data.ToArray()));
        }
    }

    [Fact]
    public void ChangedRuns_BecomeGuestWrites_UnchangedPagesNone()
    {
        Assert.True(ExternalMachine.TryCreate("demo", [], out ExternalMachine? m, out string error), error);
        var sink = new Collect();
        m!.Simulation.AddSink(sink);
        var real = new byte[4 * GuestMemory.PageSize];
        real[GuestMemory.PageSize + 10] = 1; // page 1: one byte
        real[GuestMemory.PageSize + 12] = 2; // ... 1 equal byte later: merged into one store
        real[GuestMemory.PageSize + 100] = 3; // ... far away: its own store
        real[(3 * GuestMemory.PageSize) + 4095] = 4; // page 3: the last byte
        // Bitmap names pages 1, 2 (unchanged: read only) and 3.
        ulong[] bitmap = [0b1110];
        var diff = new DirtyPageDiff();
        int stores = diff.Apply(bitmap, m, (page, dst) =>
            real.AsSpan(checked((int)page * GuestMemory.PageSize), GuestMemory.PageSize).CopyTo(dst)
        );
        Assert.Equal(3, stores);
        Assert.Equal(3, diff.PagesCompared);
        Assert.Equal(
            [(0x100AUL, "010002"), (0x1064UL, "03"), (0x3FFFUL, "04")],
            sink.Writes.Select(w => (w.Address, Convert.ToHexString(w.Data))).ToArray()
        );
        // The machine's copy now equals the real memory: a second pass finds nothing.
        Assert.Equal(
            0,
            diff.Apply(bitmap, m, (page, dst) =>
                real.AsSpan(checked((int)page * GuestMemory.PageSize), GuestMemory.PageSize).CopyTo(dst)
            )
        );
    }
}
