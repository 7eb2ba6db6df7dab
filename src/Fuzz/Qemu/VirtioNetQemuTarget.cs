using System.Text;
using Virtsim.Fuzz.Mutation;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// <c>virtio-net-qemu-real</c>: the real QEMU's virtio-net-pci (qemu-system-x86_64 with a socket netdev on a
/// <see cref="QemuNetLink"/>, driven through qtest) against our robust net model on the same input, in the byte format
/// of <c>virtio-net-qemu-robust</c> (<see cref="RingInput"/> v1; its ops drive receiveq1, and every frame the model's
/// source link gives a chain is sent to QEMU's socket too). Oracles as <see cref="VirtioRngQemuTarget"/>'s:
/// <c>qemu-crash</c>, <c>qemu-hang</c>, <c>qemu-diff</c> (the observations differ and no row of
/// <see cref="NetQemu72Differences"/> explains it). Compared: used entries (id, len) and the rest of the used rings,
/// every guest byte (headers and frames written), broken or not, device status, ISR. An input with an unexplained
/// difference runs again after a drain and a waited reset before it is reported. Guidance: the model's IL edges.
/// One QEMU per process, shared by every instance. Findings carry no standalone reproducer yet (docs/qemu-backend.md).
/// </summary>
public sealed class VirtioNetQemuTarget : IFuzzTarget
{
    public const string TargetName = "virtio-net-qemu-real";

    private static readonly object Gate = new();
    private static QemuMachine? _machine;
    private static QemuNetLink? _link;
    private static readonly VirtioNetLockstep Lockstep = new();
    private readonly NetObservation _model = new(VirtioNetLockstep.MemoryBytes);
    private readonly NetObservation _qemu = new(VirtioNetLockstep.MemoryBytes);

    public string Name => TargetName;

    public string Description => "real QEMU virtio-net-pci (socket netdev on 127.0.0.1, qemu-system-x86_64 via qtest) "
        + "differential against the robust net model, input format of virtio-net-qemu-robust (receiveq1, source "
        + "frames); oracles qemu-crash, qemu-hang, qemu-diff (QEMU 7.2 net table)";

    public int InputVersion => 1;

    public IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Sim.Spec", "Sim.Devices"];

    public IMutator? StructureMutator { get; } = new ScenarioMutator();

    public IInputMinimizer? Minimizer { get; } = RingInputMinimizer.Create(LockstepDriver.OperationsMax);

    /// <summary>Inputs whose first run showed an unexplained difference and ran again (process-wide).</summary>
    public static long Reruns { get; private set; }

    /// <summary>Inputs after which QEMU was drained of frames it may still hold (process-wide).</summary>
    public static long Drains { get; private set; }

    /// <summary>The facts of the last input run (process-wide, for tests and triage).</summary>
    public static NetRunFacts LastFacts => Lockstep.Facts;

    /// <summary>Kicks whose used.idx agreed only after more than one read.</summary>
    public static long LateSettles => Lockstep.LateSettles;

    /// <summary>Differences the table explained, by row id (this instance).</summary>
    public Dictionary<string, int> Explained { get; } = new(StringComparer.Ordinal);

    /// <summary>Null when QEMU can run here, else why not.</summary>
    public static string? Available => VirtioBlkQemuTarget.Available;

    public IEnumerable<byte[]> SeedCorpus() => NetSeeds.All().Concat(RingSeeds.Backend());

    public FuzzOutcome Execute(ReadOnlySpan<byte> input, FuzzContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        string? program = QemuBinary.Find();
        if (program is null)
        {
            context.Log?.WriteLine(TargetName + ": " + QemuBinary.MissingReason);
            return FuzzOutcome.Rejected;
        }
        lock (Gate)
        {
            (string Site, string Message)? diff;
            try
            {
                if (_machine is null) Start(program);
                Lockstep.Run(input, _model, _qemu, context);
                diff = Judge(context, log: true);
                if (diff is not null || NeedsDrain()) Drain();
                if (diff is not null)
                {
                    // Confirmed on a drained, answered reset: a late frame of the input before must not decide it.
                    Reruns++;
                    Lockstep.Run(input, _model, _qemu, context: null);
                    diff = Judge(context, log: false);
                    if (NeedsDrain() || diff is not null) Drain();
                }
            }
            catch (QemuDiedException e)
            {
                string stderr = _machine?.StderrAfterExit() ?? "";
                string exit = _machine?.ExitDescription ?? "not started";
                Restart();
                string tail = stderr.Length <= 4000 ? stderr : stderr[^4000..];
                context.Report(VirtioBlkQemuTarget.OracleCrash, "qemu/died",
                    $"{e.Message} ({exit}); stderr tail:\n{tail}");
                return FuzzOutcome.Completed;
            }
            catch (QemuHangException e)
            {
                Restart();
                context.Report(VirtioBlkQemuTarget.OracleHang, "qemu/no-answer", e.Message);
                return FuzzOutcome.Completed;
            }
            if (diff is { } d) context.Report(VirtioBlkQemuTarget.OracleDiff, d.Site, d.Message);
        }
        return FuzzOutcome.Completed;
    }

    private static void Start(string program)
    {
        _link = QemuNetLink.Open();
        _machine = QemuMachine.StartNet(program, _link.Netdev, VirtioBlkQemuTarget.AnswerMax);
        Lockstep.Attach(_machine, _link);
        Lockstep.ResetQemu(wait: true);
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

    private (string Site, string Message)? Judge(FuzzContext context, bool log)
    {
        NetRunFacts facts = Lockstep.Facts;
        List<NetDifference> diffs = NetComparison.Compare(_model, _qemu, Lockstep.UsedRingsSeen, facts.FramesReceived);
        if (diffs.Count == 0) return null;
        IReadOnlyList<NetDifferenceRow>? rows = NetQemu72Differences.Explain(new NetCase(_model, _qemu, facts), diffs);
        if (rows is not null)
        {
            if (!log) return null;
            foreach (NetDifferenceRow row in rows) Explained[row.Id] = Explained.GetValueOrDefault(row.Id) + 1;
            context.Log?.WriteLine($"explained by QEMU {NetQemu72Differences.QemuVersion} net table rows "
                + $"{string.Join(", ", rows.Select(r => r.Id))}: {Describe(diffs)}");
            return null;
        }
        var message = new StringBuilder($"net model and QEMU {NetQemu72Differences.QemuVersion} differ and no table "
            + "row explains it (classify: model deviation or QEMU bug, see docs/qemu-backend.md):");
        foreach (NetDifference d in diffs) message.Append("\n  ").Append(d.Kind).Append(": ").Append(d.Detail);
        if (facts.ModelBrokenReasons.Count > 0)
        {
            message.Append("\n  model broke: ").Append(string.Join("; ", facts.ModelBrokenReasons));
        }
        message.Append("\n  frames: ").Append(facts.FramesInjected).Append(" sent, ").Append(facts.FramesReceived)
            .Append(" received by the model, ").Append(facts.ReceiveDropped).Append(" dropped");
        return ("qemu72-net/" + string.Join('+', diffs.Select(d => d.Kind)), message.ToString());
    }

    private static string Describe(List<NetDifference> diffs) =>
        string.Join("; ", diffs.Select(d => d.Kind + ": " + d.Detail));

    private static void Restart()
    {
        _machine?.Dispose();
        _machine = null;
        _link?.Dispose();
        _link = null;
    }

    /// <summary>CPU time of the shared net QEMU so far (zero when none runs).</summary>
    public static TimeSpan QemuCpuTime
    {
        get
        {
            lock (Gate) return _machine?.CpuTime ?? TimeSpan.Zero;
        }
    }

    /// <summary>Stops the shared QEMU (tests call it; the process exit does it anyway).</summary>
    public static void Shutdown()
    {
        lock (Gate) Restart();
    }
}
