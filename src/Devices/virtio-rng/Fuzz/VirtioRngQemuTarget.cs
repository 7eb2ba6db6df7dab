using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// <c>virtio-rng-qemu-real</c>: the real QEMU's virtio-rng-pci (qemu-system-x86_64 with the rng-builtin backend, driven
/// through qtest) against our robust rng model on the same input, in the byte format of <c>virtio-rng-qemu-robust</c>
/// (<see cref="RingInput"/> v1). The loop, the oracles and the reproducers (<see cref="QemuReproducer.WriteRng"/>) are
/// <see cref="RealQemuTarget"/>'s; this part adds the table (<see cref="RngQemu72Differences"/>) and the comparison:
/// used entries (id, len) and the rest of the used rings, every guest byte but the entropy the model wrote, broken or
/// not, device status, ISR. An input with an unexplained difference runs again on a fresh reset (answered, after
/// QEMU's 1 ms rate-limit period) before it is reported. Guidance as blk's: the model's IL edges plus one synthetic
/// edge per new QEMU outcome (<see cref="LockstepOutcome"/>).
/// </summary>
internal sealed class VirtioRngQemuTarget : RealQemuTarget
{
    public const string TargetName = "virtio-rng-qemu-real";

    private static readonly VirtioRngLockstep Lockstep = new();
    private static readonly QemuSession Session = new(program => QemuMachine.StartRng(program, AnswerMax));
    private readonly RngObservation _model = new(VirtioRngLockstep.MemoryBytes);
    private readonly RngObservation _qemu = new(VirtioRngLockstep.MemoryBytes);

    public VirtioRngQemuTarget()
        : base(Session, "rng ", "qemu72-rng/") { }

    public override string Name => TargetName;

    public override string Description =>
        "real QEMU virtio-rng-pci (rng-builtin, qemu-system-x86_64 via qtest) "
        + "differential against the robust rng model, input format of virtio-rng-qemu-robust; oracles qemu-crash, "
        + "qemu-hang, qemu-diff (QEMU 7.2 rng table)";

    /// <summary>Inputs whose first run showed an unexplained difference and ran again (process-wide).</summary>
    public static long Reruns { get; private set; }

    /// <summary>Differences the re-run did not confirm, by kinds (should stay rare).</summary>
    public static Dictionary<string, int> FirstRunOnly { get; } = new(StringComparer.Ordinal);

    /// <summary>The facts of the last input run (process-wide, for tests and triage).</summary>
    public static RngRunFacts LastFacts => Lockstep.Facts;

    /// <summary>Kicks whose used.idx agreed only after more than one read (QEMU's backend answering late).</summary>
    public static long LateSettles => Lockstep.LateSettles;

    public override IEnumerable<byte[]> SeedCorpus() => RngSeeds.All().Concat(RingSeeds.Backend());

    protected override void Prepare(QemuMachine machine, bool started)
    {
        if (!started)
            return;
        Lockstep.Attach(machine);
        Lockstep.ResetQemu(wait: true);
    }

    protected override void Run(ReadOnlySpan<byte> input, FuzzContext? context) =>
        Lockstep.Run(input, _model, _qemu, context);

    /// <summary>A difference is confirmed by re-runs on a waited reset, each after a longer pause: past the rate
    /// limiter's 1 ms period (QemuCommandLine.RngMaxBytes), then past late entropy callbacks of the input before
    /// (rng-builtin answers from QEMU's main loop; a loaded host delays it).</summary>
    protected override (string Site, string Message)? Confirm(
        ReadOnlySpan<byte> input,
        FuzzContext context,
        (string Site, string Message)? first
    )
    {
        (string Site, string Message)? diff = first;
        foreach (int pauseMs in (ReadOnlySpan<int>)[2, 20])
        {
            if (diff is null)
                break;
            Reruns++;
            Thread.Sleep(pauseMs);
            Lockstep.ResetQemu(wait: true);
            Run(input, context: null);
            diff = Judge(context, first: false);
        }
        if (first is { } f && diff is null)
        {
            lock (FirstRunOnly)
                FirstRunOnly[f.Site] = FirstRunOnly.GetValueOrDefault(f.Site) + 1;
        }
        return diff;
    }

    protected override (string Site, string Message)? Judge(FuzzContext context, bool first)
    {
        List<RngDifference> diffs = RngComparison.Compare(_model, _qemu, Lockstep.UsedRingsSeen);
        if (first)
        {
            (ulong, int)? used = Lockstep.UsedRingsSeen.Count > 0 ? Lockstep.UsedRingsSeen[^1] : null;
            MarkOutcome(LockstepOutcome.Describe(_qemu, used, diffs.Select(d => d.Kind)));
        }
        if (diffs.Count == 0)
            return null;
        IReadOnlyList<RngDifferenceRow>? rows = RngQemu72Differences.Explain(
            new RngCase(_model, _qemu, Lockstep.Facts, Lockstep.UsedRingsSeen),
            diffs
        );
        return Verdict(
            context,
            diffs,
            rows?.Select(r => r.Id),
            record: true,
            rows is null ? ModelBroke(Lockstep.Facts) : null
        );
    }

    protected override void WriteReproducer(string program, byte[] input, string directory, string note) =>
        QemuReproducer.WriteRng(program, input, directory, note);

    /// <summary>CPU time of the shared rng QEMU so far (zero when none runs).</summary>
    public static TimeSpan QemuCpuTime => Session.CpuTime;

    /// <summary>Stops the shared QEMU (tests call it; the process exit does it anyway).</summary>
    public static void Shutdown() => Session.Shutdown();
}
