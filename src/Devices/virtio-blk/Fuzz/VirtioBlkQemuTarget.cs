using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// <c>virtio-blk-qemu-real</c>: the real QEMU's virtio-blk-pci (qemu-system-x86_64, driven through qtest) against our
/// robust blk model on the same input, in the byte format of <c>virtio-blk-qemu-robust</c> (<see cref="RingInput"/>
/// v1: corpora and findings move between the two unchanged). The loop, the oracles (<c>qemu-crash</c>,
/// <c>qemu-hang</c>, <c>qemu-diff</c>) and the reproducers are <see cref="RealQemuTarget"/>'s; this part adds the
/// disk, the fast path between inputs (<see cref="VirtioBlkLockstep.PrepareFast"/>), the careful re-run that confirms
/// a difference, the table (<see cref="Qemu72Differences"/>) and the outcome edge (<see cref="QemuOutcome"/>: used
/// lengths, status bytes, broken and QEMU's message, device status, ISR).
/// </summary>
internal sealed class VirtioBlkQemuTarget : RealQemuTarget
{
    public const string TargetName = "virtio-blk-qemu-real";
    public const string Serial = "virtsim-blk0";

    private static readonly byte[] Disk = DiskImage();
    private static readonly VirtioBlkLockstep Lockstep = new();
    private static readonly QemuSession Session = new(
        program => QemuMachine.Start(program, Serial, Disk, AnswerMax),
        CountQtest
    );
    private static long _roundTrips;
    private static long _commands;
    private readonly BlkObservation _model = new(VirtioBlkLockstep.MemoryBytes, (int)FuzzTargets.BlkDiskBytes);
    private readonly BlkObservation _qemu = new(VirtioBlkLockstep.MemoryBytes, (int)FuzzTargets.BlkDiskBytes);

    public VirtioBlkQemuTarget()
        : base(Session, "", "qemu72/") { }

    public override string Name => TargetName;

    public override string Description =>
        "real QEMU virtio-blk-pci (qemu-system-x86_64 via qtest) differential "
        + "against the robust blk model, input format of virtio-blk-qemu-robust; oracles qemu-crash, qemu-hang, "
        + "qemu-diff (QEMU 7.2 table)";

    /// <summary>Kicks settled, and how many of them needed the QMP drain (the slow path), over this process.</summary>
    public static (long Settles, long QmpDrains) DrainCounts => (Lockstep.QueueDrains, Lockstep.QmpDrains);

    /// <summary>Inputs whose fast run showed a difference no table row explains, run again on the careful
    /// path.</summary>
    public static long CarefulReruns { get; private set; }

    /// <summary>qtest round trips and commands over this process (the shared QEMU's client; zero before it
    /// starts).</summary>
    public static (long RoundTrips, long Commands) QtestCounts
    {
        get
        {
            lock (Session.Gate)
            {
                QemuMachine? m = Session.Machine;
                return (_roundTrips + (m?.Qtest.RoundTrips ?? 0), _commands + (m?.Qtest.Commands ?? 0));
            }
        }
    }

    /// <summary>Differences the fast path showed that the careful re-run did not, by site (should stay rare: each costs
    /// a re-run).</summary>
    public static Dictionary<string, int> FastOnly { get; } = new(StringComparer.Ordinal);

    /// <summary>The disk image every input starts from: each byte names its sector and offset, so a read of the
    /// wrong sector or a write to the wrong place shows.</summary>
    public static byte[] DiskImage()
    {
        byte[] disk = new byte[FuzzTargets.BlkDiskBytes];
        for (int i = 0; i < disk.Length; i++)
            disk[i] = unchecked((byte)((i >> 9) * 37 + i));
        return disk;
    }

    public override IEnumerable<byte[]> SeedCorpus() => RingSeeds.Backend().Concat(BlkSeeds.All());

    /// <summary>A hang with the used ring over the available ring is QEMU 7.2's known endless pop loop
    /// (<see cref="Qemu72Differences.HangUsedOverAvail"/>).</summary>
    protected override (string Id, string Description)? KnownHang() =>
        Lockstep.Facts.UsedOverAvail
            ? (Qemu72Differences.HangUsedOverAvail, Qemu72Differences.HangUsedOverAvailDescription)
            : null;

    protected override void Prepare(QemuMachine machine, bool started)
    {
        if (started)
        {
            Lockstep.Attach(machine);
            Lockstep.ResetQemu(Disk);
        }
        else
        {
            Lockstep.PrepareFast(Disk);
        }
    }

    protected override void Run(ReadOnlySpan<byte> input, FuzzContext? context) =>
        Lockstep.Run(input, Disk, Serial, _model, _qemu, context, careful: false);

    /// <summary>The fast path's shortcuts (no per-kick check, reset queued behind the last input, broken from the
    /// status bit) never make a finding: the input runs again on the careful path and only a difference that remains
    /// is reported.</summary>
    protected override (string Site, string Message)? Confirm(
        ReadOnlySpan<byte> input,
        FuzzContext context,
        (string Site, string Message)? first
    )
    {
        if (first is not { } fast)
            return null;
        CarefulReruns++;
        Lockstep.ResetQemu(Disk);
        Lockstep.Run(input, Disk, Serial, _model, _qemu, context: null, careful: true);
        (string Site, string Message)? diff = Judge(context, first: false);
        if (diff is null)
            lock (FastOnly)
                FastOnly[fast.Site] = FastOnly.GetValueOrDefault(fast.Site) + 1;
        return diff;
    }

    protected override (string Site, string Message)? Judge(FuzzContext context, bool first)
    {
        List<BlkDifference> diffs = BlkComparison.Compare(_model, _qemu, Lockstep.ModelUsedRing());
        if (first)
        {
            IEnumerable<string> kinds = diffs.Select(d => d.Kind);
            MarkOutcome(QemuOutcome.Describe(_qemu, Lockstep.ModelRing(), Lockstep.Indirect, kinds));
        }
        if (diffs.Count == 0)
            return null;
        LockstepFacts f = Lockstep.Facts;
        var c = new DifferenceCase(
            _model,
            _qemu,
            diffs,
            Lockstep.ModelUsedRing(),
            Lockstep.UsedRingsSeen,
            f.ModelEverBroken,
            f.UnalignedRegisterWrite,
            f.KickBeforeDriverOk,
            f.DriverWroteStatus,
            f.RingsOverlap,
            f.BuffersOverlapInKick,
            f.ModelBrokenReasons,
            f.QueueSizeRewritten,
            f.AvailEventsAtKicks
        );
        return Verdict(context, diffs, Qemu72Differences.Explain(c, out _)?.Select(r => r.Id), record: true);
    }

    protected override void WriteReproducer(string program, byte[] input, string directory, string note) =>
        QemuReproducer.Write(program, input, directory, note);

    private static void CountQtest(QemuMachine? stopped)
    {
        _roundTrips += stopped?.Qtest.RoundTrips ?? 0;
        _commands += stopped?.Qtest.Commands ?? 0;
    }

    /// <summary>CPU time of the shared QEMU so far (zero when none runs).</summary>
    public static TimeSpan QemuCpuTime => Session.CpuTime;

    /// <summary>Stops the shared QEMU (tests call it; the process exit does it anyway).</summary>
    public static void Shutdown() => Session.Shutdown();
}
