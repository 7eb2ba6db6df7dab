using Sim.Engine.Memory;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// The differential oracle between a queue's observed and unobserved paths (issue 12 item 1; STYLE.md item 19: a fast
/// path names its reference, and the fuzzer runs it). A target runs each input twice on the same memory object: lane 0
/// with the checkers' observer attached (so <c>SplitQueue</c> takes its accessor paths, the reference), lane 1 with
/// none (so it takes <c>TryWalkDirectFast</c>, <c>TryPopBatchDirect</c> and the window paths of <c>FillBatch</c> and
/// <c>AddUsedAndSignal</c>). Each
/// lane records, per step (an input operation or a drain round), a digest of everything the guest or the device can
/// see afterwards (pop results and their iovecs, queue indices, notification decisions), and at the end an image of
/// guest memory and its dirty pages. Any difference is a finding at <c>fast-path/&lt;step&gt;</c> naming the first
/// step that diverged. Reusable across executions; allocates only the dirty-page walk and a report.
/// </summary>
internal sealed class FastPathDifferential
{
    /// <summary>Oracle name.</summary>
    public const string Oracle = "fast-path";

    /// <summary>Steps recorded per lane; later ones fold into the last.</summary>
    public const int StepsMax = 2048;

    /// <summary>Pages compared for dirtiness per lane.</summary>
    public const int DirtyPagesMax = 1024;

    private readonly Lane[] _lanes;
    private Lane _current;

    /// <param name="memoryBytes">Total bytes of the memory layouts the lanes run on (their images).</param>
    public FastPathDifferential(int memoryBytes)
    {
        if (memoryBytes <= 0)
            throw new ArgumentOutOfRangeException(nameof(memoryBytes), "the memory image needs a size");
        _lanes = [new Lane(memoryBytes), new Lane(memoryBytes)];
        _current = _lanes[0];
    }

    /// <summary>False while nothing is to be compared (an execution the twin will not run for): every recording call
    /// then returns at once, so lane 0 costs nothing on those executions.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Starts recording lane <paramref name="lane"/> (0 observed, 1 unobserved).</summary>
    public void Begin(int lane)
    {
        _current = _lanes[lane];
        _current.Steps = 0;
        _current.ImageBytes = 0;
        _current.DirtyCount = 0;
    }

    /// <summary>Starts a new step called <paramref name="label"/> (a constant: it becomes the finding's
    /// site).</summary>
    public void Step(string label)
    {
        if (!Enabled)
            return;
        Lane l = _current;
        if (l.Steps < StepsMax)
            l.Steps++;
        int s = l.Steps - 1;
        l.Labels[s] = label;
        l.Digests[s] = 0x27D4EB2F165667C5UL;
    }

    /// <summary>Mixes <paramref name="value"/> into the current step's digest.</summary>
    public void Add(ulong value)
    {
        if (!Enabled)
            return;
        Lane l = _current;
        if (l.Steps == 0)
            Step("start");
        ref ulong d = ref l.Digests[l.Steps - 1];
        unchecked
        {
            d ^= value * 0xC2B2AE3D27D4EB4FUL;
            d = System.Numerics.BitOperations.RotateLeft(d, 31) * 0x9E3779B185EBCA87UL;
        }
    }

    /// <summary>Records the final guest memory: every region's bytes and the pages written since the last
    /// <see cref="GuestMemory.ClearDirty"/>.</summary>
    public void Finish(GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (!Enabled)
            return;
        Lane l = _current;
        int at = 0;
        foreach (MemoryRegion r in memory.Regions)
        {
            ReadOnlySpan<byte> bytes = r.Contents;
            int n = Math.Min(bytes.Length, l.Image.Length - at);
            bytes[..n].CopyTo(l.Image.AsSpan(at));
            at += n;
        }
        l.ImageBytes = at;
        int count = 0;
        foreach (GuestAddress page in memory.DirtyPages())
        {
            if (count == DirtyPagesMax)
                break;
            l.Dirty[count++] = page.Value;
        }
        l.DirtyCount = count;
    }

    /// <summary>Compares lane 1 with lane 0 and reports the first difference through <paramref name="context"/>.
    /// Returns true when the lanes agree.</summary>
    public bool Compare(FuzzContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        Lane a = _lanes[0];
        Lane b = _lanes[1];
        int steps = Math.Min(a.Steps, b.Steps);
        for (int s = 0; s < steps; s++)
        {
            if (a.Digests[s] == b.Digests[s] && ReferenceEquals(a.Labels[s], b.Labels[s]))
                continue;
            context.Report(
                Oracle,
                "fast-path/" + a.Labels[s],
                $"step {s} ({a.Labels[s]}): the unobserved run (window paths) saw a different result than the observed "
                    + "run (accessor paths)"
            );
            return false;
        }
        if (a.Steps != b.Steps)
        {
            context.Report(
                Oracle,
                "fast-path/step-count",
                $"the observed run took {a.Steps} steps, the unobserved run {b.Steps}"
            );
            return false;
        }
        int diff = a.Image.AsSpan(0, a.ImageBytes).CommonPrefixLength(b.Image.AsSpan(0, b.ImageBytes));
        if (diff < a.ImageBytes || a.ImageBytes != b.ImageBytes)
        {
            context.Report(
                Oracle,
                "fast-path/guest-memory",
                $"guest memory differs at image offset 0x{diff:x} between the observed and the unobserved run"
            );
            return false;
        }
        if (!a.Dirty.AsSpan(0, a.DirtyCount).SequenceEqual(b.Dirty.AsSpan(0, b.DirtyCount)))
        {
            context.Report(
                Oracle,
                "fast-path/dirty-pages",
                $"the observed run dirtied {a.DirtyCount} pages, the unobserved run {b.DirtyCount} (or other ones): a "
                    + "window write was not marked"
            );
            return false;
        }
        return true;
    }

    private sealed class Lane(int memoryBytes)
    {
        public readonly ulong[] Digests = new ulong[StepsMax];
        public readonly string[] Labels = new string[StepsMax];
        public readonly byte[] Image = new byte[memoryBytes];
        public readonly ulong[] Dirty = new ulong[DirtyPagesMax];
        public int Steps;
        public int ImageBytes;
        public int DirtyCount;
    }
}
