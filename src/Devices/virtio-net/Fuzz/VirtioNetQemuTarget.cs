using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// <c>virtio-net-qemu-real</c>: the real QEMU's virtio-net-pci (qemu-system-x86_64 with a socket netdev on a
/// <see cref="QemuNetLink"/>, driven through qtest) against our robust net model on the same input, in the byte format
/// of <c>virtio-net-qemu-robust</c> (<see cref="RingInput"/> v1; its ops drive receiveq1, and every frame the model's
/// source link gives a chain is sent to QEMU's socket too). The loop, the oracles and the reproducers
/// (<see cref="QemuReproducer.WriteNet"/>: the qtest script plus the frames, sent at the kicks that took them) are
/// <see cref="RealQemuTarget"/>'s; this part adds the link, the table (<see cref="NetQemu72Differences"/>) and the
/// comparison: used entries (id, len) and the rest of the used rings, every guest byte (headers and frames written),
/// broken or not, device status, ISR. An input with an unexplained difference runs again after a drain and a waited
/// reset before it is reported. Guidance: the model's IL edges.
/// </summary>
internal sealed class VirtioNetQemuTarget : RealQemuTarget
{
    public const string TargetName = "virtio-net-qemu-real";

    private static readonly VirtioNetLockstep Lockstep = new();
    private static readonly QemuSession Session = new(Start, _ => CloseLink());
    private static QemuNetLink? _link;
    private readonly NetObservation _model = new(VirtioNetLockstep.MemoryBytes);
    private readonly NetObservation _qemu = new(VirtioNetLockstep.MemoryBytes);

    public VirtioNetQemuTarget()
        : base(Session, "net ", "qemu72-net/") { }

    public override string Name => TargetName;

    public override string Description =>
        "real QEMU virtio-net-pci (socket netdev on 127.0.0.1, qemu-system-x86_64 "
        + "via qtest) differential against the robust net model, input format of virtio-net-qemu-robust "
        + "(receiveq1, source frames); oracles qemu-crash, qemu-hang, qemu-diff (QEMU 7.2 net table)";

    /// <summary>Inputs whose first run showed an unexplained difference and ran again (process-wide).</summary>
    public static long Reruns { get; private set; }

    /// <summary>Inputs after which QEMU was drained of frames it may still hold (process-wide).</summary>
    public static long Drains { get; private set; }

    /// <summary>The facts of the last input run (process-wide, for tests and triage).</summary>
    public static NetRunFacts LastFacts => Lockstep.Facts;

    /// <summary>Kicks whose used.idx agreed only after more than one read.</summary>
    public static long LateSettles => Lockstep.LateSettles;

    public override IEnumerable<byte[]> SeedCorpus() => NetSeeds.All().Concat(RingSeeds.Backend());

    private static QemuMachine Start(string program)
    {
        _link = QemuNetLink.Open();
        return QemuMachine.StartNet(program, _link.Netdev, AnswerMax);
    }

    private static void CloseLink()
    {
        _link?.Dispose();
        _link = null;
    }

    protected override void Prepare(QemuMachine machine, bool started)
    {
        if (!started)
            return;
        Lockstep.Attach(machine, _link!);
        Lockstep.ResetQemu(wait: true);
    }

    protected override void Run(ReadOnlySpan<byte> input, FuzzContext? context) =>
        Lockstep.Run(input, _model, _qemu, context);

    /// <summary>Confirmed on a drained, answered reset: a late frame of the input before must not decide it. QEMU is
    /// drained after any input that may have left it frames (<see cref="NeedsDrain"/>).</summary>
    protected override (string Site, string Message)? Confirm(
        ReadOnlySpan<byte> input,
        FuzzContext context,
        (string Site, string Message)? first
    )
    {
        if (first is not null || NeedsDrain())
            Drain();
        if (first is null)
            return null;
        Reruns++;
        Run(input, context: null);
        (string Site, string Message)? diff = Judge(context, first: false);
        if (NeedsDrain() || diff is not null)
            Drain();
        return diff;
    }

    /// <summary>QEMU may hold frames the model took: the model dropped one (QEMU 7.2 may wait for room instead) or
    /// either broke.</summary>
    private static bool NeedsDrain()
    {
        NetRunFacts f = Lockstep.Facts;
        return f.FramesInjected > 0 && (f.ReceiveDropped > 0 || f.ModelEverBroken);
    }

    private static void Drain()
    {
        Drains++;
        Lockstep.Drain();
    }

    protected override (string Site, string Message)? Judge(FuzzContext context, bool first)
    {
        NetRunFacts facts = Lockstep.Facts;
        List<NetDifference> diffs = NetComparison.Compare(_model, _qemu, Lockstep.UsedRingsSeen, facts.FramesReceived);
        if (first)
        {
            (ulong, int)? used = Lockstep.UsedRingsSeen.Count > 0 ? Lockstep.UsedRingsSeen[^1] : null;
            MarkOutcome(NetOutcome.Describe(_qemu, used, diffs.Select(d => d.Kind)));
        }
        if (diffs.Count == 0)
            return null;
        IReadOnlyList<NetDifferenceRow>? rows = NetQemu72Differences.Explain(new NetCase(_model, _qemu, facts), diffs);
        string? detail = rows is not null
            ? null
            : ModelBroke(facts)
                + $"\n  frames: {facts.FramesInjected} sent, {facts.FramesReceived} received by the model, "
                + $"{facts.ReceiveDropped} dropped";
        return Verdict(context, diffs, rows?.Select(r => r.Id), record: first, detail);
    }

    protected override void WriteReproducer(string program, byte[] input, string directory, string note) =>
        QemuReproducer.WriteNet(program, input, directory, note);

    /// <summary>CPU time of the shared net QEMU so far (zero when none runs).</summary>
    public static TimeSpan QemuCpuTime => Session.CpuTime;

    /// <summary>Stops the shared QEMU (tests call it; the process exit does it anyway).</summary>
    public static void Shutdown() => Session.Shutdown();
}
