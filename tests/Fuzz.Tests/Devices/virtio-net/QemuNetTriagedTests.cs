using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Qemu;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Qemu;

/// <summary>
/// The net differences the guided campaigns found against QEMU 7.2 (issue 15, docs/qemu-backend.md "net triage"),
/// each with the row of <see cref="NetQemu72Differences"/> that explains it after triage: each input runs against
/// QEMU again and must produce no finding. The facts the rows rest on are checked without QEMU too. Where QEMU is
/// missing the QEMU tests say so and return.
/// </summary>
[Collection(RealQemuCollection.Name)]
public sealed class QemuNetTriagedTests(ITestOutputHelper output)
{
    /// <summary>Queue of one entry; a zero-length readable buffer breaks the model at the first kick (QEMU has no
    /// frame and does not pop); a re-initialisation resets both; a 64-byte receive chain is too small for the
    /// 60-byte frame (QEMU 7.2 writes what fits and leaves the chain available, virtqueue_unpop; the model completes
    /// it with used.len 0); the driver rewrites that chain's descriptor as a readable buffer and adds a second chain;
    /// at the next frame QEMU pops the left chain again and breaks ("virtio-net receive queue contains no in
    /// buffers") where the model delivers into the second.</summary>
    public const string LeftChainRewrittenAfterReset =
        "00040000030000000000000000000000000000000000000e0000000000000000000000000000000000000a0000000000000000"
        + "0000000000000000000102000000000000000000003f00000000000000080000000000000000000000000000000000000000"
        + "000000000000000000000000000000000002000000000000000000003f0000000000000008";

    /// <summary>Queue of 64 with its used ring at 0x5e08 (ring placement 0x57), INDIRECT not negotiated; one chain
    /// through an indirect table anyway (both QEMU 7.2 and the model follow it) whose two writable buffers start at
    /// 0x6000, over the used ring's last entries and avail_event; a kick. The header lands in used ring entry 63:
    /// its num_buffers bytes (model 1, QEMU 7.2 leaves them) read as a used-ring difference, the frame's broadcast
    /// address as avail_event 65535.</summary>
    public const string IndirectFrameOverUsedRing = "060457000200000000000000000000f00000000400000608";

    /// <summary>(the row triage named for it; input hex).</summary>
    public static TheoryData<string, string> Triaged { get; } =
        new()
        {
            { NetQemu72Differences.SmallChainLeftAvailable, LeftChainRewrittenAfterReset },
            { NetQemu72Differences.FrameOverRings, IndirectFrameOverUsedRing },
        };

    [Theory]
    [MemberData(nameof(Triaged))]
    public void TriagedDifference_IsExplainedByItsRow(string row, string hex)
    {
        if (VirtioNetQemuTarget.Available is { } why)
        {
            output.WriteLine("SKIPPED: " + why);
            return;
        }
        var target = new VirtioNetQemuTarget { ReproducerDirectory = null };
        var context = new FuzzContext { Log = new StringWriter() };
        Assert.Equal(FuzzOutcome.Completed, target.Execute(Convert.FromHexString(hex), context));
        output.WriteLine(context.Log.ToString());
        Assert.Null(context.Finding);
        string explained = string.Join(", ", target.Explained.Keys);
        Assert.True(target.Explained.ContainsKey(row), $"row {row} did not explain it; explained: {explained}");
        NetRunFacts facts = VirtioNetQemuTarget.LastFacts;
        if (row == NetQemu72Differences.SmallChainLeftAvailable)
        {
            // The model broke before the reset and dropped the frame after it.
            Assert.True(facts.ModelEverBroken);
            Assert.Equal(1, facts.ReceiveDroppedSinceBreak);
        }
        else
        {
            Assert.True(facts.BuffersOverlapInKick);
        }
    }

    /// <summary>The row of the left chain explains an input whose model dropped a frame after its last break (a
    /// break the driver reset before the drop does not matter), and nothing else: not a drop before a break, not an
    /// input that leaves the model broken.</summary>
    [Fact]
    public void SmallChainRow_CoversDropsAfterTheLastBreakOnly()
    {
        NetDifferenceRow row = NetQemu72Differences.Rows.Single(r =>
            r.Id == NetQemu72Differences.SmallChainLeftAvailable
        );
        var broken = new NetDifference(NetComparison.Broken, "model not broken, QEMU broken");
        NetCase Case(long dropped, long sinceBreak, bool everBroken, bool modelBroken)
        {
            var facts = new NetRunFacts
            {
                ReceiveDropped = dropped,
                ReceiveDroppedSinceBreak = sinceBreak,
                ModelEverBroken = everBroken,
            };
            var model = new NetObservation(16) { Broken = modelBroken };
            var qemu = new NetObservation(16) { Broken = true };
            return new NetCase(model, qemu, facts);
        }
        // The campaign's input: broken, reset, then the drop.
        NetCase found = Case(dropped: 1, sinceBreak: 1, everBroken: true, modelBroken: false);
        Assert.True(row.Explains(found, broken));
        Assert.Equal([row], NetQemu72Differences.Explain(found, [broken]));
        // As before: a drop, never broken.
        Assert.True(row.Explains(Case(dropped: 1, sinceBreak: 1, everBroken: false, modelBroken: false), broken));
        // A drop, then a break (reset or not): the break is what differs.
        Assert.False(row.Explains(Case(dropped: 1, sinceBreak: 0, everBroken: true, modelBroken: false), broken));
        Assert.False(row.Explains(Case(dropped: 1, sinceBreak: 1, everBroken: true, modelBroken: true), broken));
        // No drop at all.
        Assert.False(row.Explains(Case(dropped: 0, sinceBreak: 0, everBroken: true, modelBroken: false), broken));
        Assert.Null(NetQemu72Differences.Explain(Case(0, 0, everBroken: true, modelBroken: false), [broken]));
    }

    /// <summary>KickOverlap follows an INDIRECT head whether or not VIRTIO_F_INDIRECT_DESC was negotiated, as QEMU
    /// 7.2's virtqueue_split_pop and the model's SplitQueue do: the table's writable buffers over the used ring are an
    /// overlap (the campaign's input), the same table with its buffers elsewhere is not.</summary>
    [Theory]
    [InlineData(0x6000UL, true)]
    [InlineData(0x7000UL, false)]
    public void KickOverlap_IndirectHeadWithoutTheFeature_SeesTheTablesBuffers(ulong buffer, bool overlaps)
    {
        const int size = 64;
        const ulong desc = 0x1000,
            avail = 0x1400,
            used = 0x5e08,
            table = RingInput.IndirectBase;
        GuestMemory memory = GuestMemory.CreateFlat(RingInput.MemorySize);
        using (memory.As(MemoryActor.Guest))
        {
            WriteDesc(memory, desc, table, 32, VirtioSpec.DescFIndirect, 0);
            WriteDesc(memory, table, buffer, 49, VirtioSpec.DescFWrite + VirtioSpec.DescFNext, 1);
            WriteDesc(memory, table + 16, buffer + 56, 49, VirtioSpec.DescFWrite, 0);
            Assert.True(memory.TryWriteUInt16(new GuestAddress(avail + 4), 0));
            Assert.True(memory.TryWriteUInt16(new GuestAddress(avail + 2), 1));
        }
        var queue = new SplitQueue(size)
        {
            DescTable = new GuestAddress(desc),
            AvailRing = new GuestAddress(avail),
            UsedRing = new GuestAddress(used),
        };
        Assert.True(queue.TryEnable(memory, out _));
        Assert.Equal(overlaps, KickOverlap.WritableOverlapsOther(memory, queue));
    }

    private static void WriteDesc(GuestMemory memory, ulong at, ulong addr, uint len, ushort flags, ushort next)
    {
        Assert.True(memory.TryWriteUInt64(new GuestAddress(at), addr));
        Assert.True(memory.TryWriteUInt32(new GuestAddress(at + 8), len));
        Assert.True(memory.TryWriteUInt16(new GuestAddress(at + 12), flags));
        Assert.True(memory.TryWriteUInt16(new GuestAddress(at + 14), next));
    }
}
