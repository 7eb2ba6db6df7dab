using System.Text;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Mutation;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// <c>virtio-blk-qemu-real</c>: the real QEMU's virtio-blk-pci (qemu-system-x86_64, driven through qtest) against our
/// robust blk model on the same input, in the byte format of <c>virtio-blk-qemu-robust</c> (<see cref="RingInput"/>
/// v1: corpora and findings move between the two unchanged). Oracles: <c>qemu-crash</c> (QEMU exited: abort,
/// assertion, signal, exit(1); its stderr is kept), <c>qemu-hang</c> (no qtest/QMP answer, or requests still in
/// flight, within the bound) and <c>qemu-diff</c> (the observations differ and no row of
/// <see cref="Qemu72Differences"/> explains it). Guidance: the model's IL edges (Sim.Devices is instrumented) plus one
/// synthetic edge per new QEMU outcome (used lengths, status bytes, broken and QEMU's message, device status, ISR).
/// One QEMU per process, shared by every instance (a lock serialises them), started on the first input and restarted
/// only after it died or hung. Where QEMU is not installed every input is rejected (and <see cref="Available"/> says
/// why).
/// </summary>
public sealed class VirtioBlkQemuTarget : IFuzzTarget
{
    public const string TargetName = "virtio-blk-qemu-real";
    public const string Serial = "virtsim-blk0";
    public const string OracleCrash = "qemu-crash";
    public const string OracleHang = "qemu-hang";
    public const string OracleDiff = "qemu-diff";

    /// <summary>Bound on one qtest or QMP answer.</summary>
    public static readonly TimeSpan AnswerMax = TimeSpan.FromSeconds(5);

    private static readonly object Gate = new();
    private static QemuMachine? _machine;
    private static readonly VirtioBlkLockstep Lockstep = new();
    private readonly BlkObservation _model = new(VirtioBlkLockstep.MemoryBytes, (int)FuzzTargets.BlkDiskBytes);
    private readonly BlkObservation _qemu = new(VirtioBlkLockstep.MemoryBytes, (int)FuzzTargets.BlkDiskBytes);
    private readonly HashSet<ulong> _outcomes = [];

    public string Name => TargetName;

    public string Description => "real QEMU virtio-blk-pci (qemu-system-x86_64 via qtest) differential against the robust blk model, input format of virtio-blk-qemu-robust; oracles qemu-crash, qemu-hang, qemu-diff (QEMU 7.2 table)";

    public int InputVersion => 1;

    public IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Sim.Spec", "Sim.Devices"];

    public IMutator? StructureMutator { get; } = new ScenarioMutator();

    public IInputMinimizer? Minimizer { get; } = RingInputMinimizer.Create(VirtioBlkLockstep.OperationsMax);

    /// <summary>Where a finding's standalone reproducer goes (<c>&lt;dir&gt;/&lt;input content name&gt;/</c>):
    /// <c>$VIRTSIM_QEMU_REPRODUCERS</c>, else <c>findings/qemu-reproducers</c> under the current directory; null writes
    /// none.</summary>
    public string? ReproducerDirectory { get; set; } = QemuReproducer.DefaultDirectory;

    /// <summary>Distinct QEMU outcomes this instance has seen (the guidance measure).</summary>
    public int DistinctOutcomes => _outcomes.Count;

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
            lock (Gate) return (_roundTrips + (_machine?.Qtest.RoundTrips ?? 0), _commands + (_machine?.Qtest.Commands ?? 0));
        }
    }

    /// <summary>Differences the fast path showed that the careful re-run did not, by site (should stay rare: each costs
    /// a re-run).</summary>
    public static Dictionary<string, int> FastOnly { get; } = new(StringComparer.Ordinal);

    private static long _roundTrips;
    private static long _commands;

    /// <summary>Differences the table explained, by row id (this instance).</summary>
    public Dictionary<string, int> Explained { get; } = new(StringComparer.Ordinal);

    /// <summary>Null when QEMU can run here, else why not.</summary>
    public static string? Available => QemuBinary.Find() is null ? QemuBinary.MissingReason : null;

    /// <summary>The disk image every input starts from: each byte names its sector and offset, so a read of the
    /// wrong sector or a write to the wrong place shows.</summary>
    public static byte[] DiskImage()
    {
        byte[] disk = new byte[FuzzTargets.BlkDiskBytes];
        for (int i = 0; i < disk.Length; i++) disk[i] = unchecked((byte)((i >> 9) * 37 + i));
        return disk;
    }

    private static readonly byte[] Disk = DiskImage();

    public IEnumerable<byte[]> SeedCorpus() => RingSeeds.Backend().Concat(BlkSeeds.All());

    public FuzzOutcome Execute(ReadOnlySpan<byte> input, FuzzContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        string? program = QemuBinary.Find();
        if (program is null)
        {
            context.Log?.WriteLine("virtio-blk-qemu-real: " + QemuBinary.MissingReason);
            return FuzzOutcome.Rejected;
        }
        lock (Gate)
        {
            (string Site, string Message)? diff;
            try
            {
                if (_machine is null)
                {
                    _machine = StartMachine(program);
                    Lockstep.ResetQemu(Disk);
                }
                else
                {
                    Lockstep.PrepareFast(Disk);
                }
                Lockstep.Run(input, Disk, Serial, _model, _qemu, context, careful: false);
                diff = Judge(context, markOutcome: true);
                if (diff is not null)
                {
                    // The fast path's shortcuts (no per-kick check, reset queued behind the last input, broken from the
                    // status bit) never make a finding: the input runs again on the careful path and only a difference
                    // that remains is reported.
                    CarefulReruns++;
                    string fastSite = diff.Value.Site;
                    Lockstep.ResetQemu(Disk);
                    Lockstep.Run(input, Disk, Serial, _model, _qemu, context: null, careful: true);
                    diff = Judge(context, markOutcome: false);
                    if (diff is null) lock (FastOnly) FastOnly[fastSite] = FastOnly.GetValueOrDefault(fastSite) + 1;
                }
            }
            catch (QemuDiedException e)
            {
                string stderr = _machine?.StderrAfterExit() ?? "";
                string exit = _machine?.ExitDescription ?? "not started";
                Restart();
                context.Report(OracleCrash, "qemu/died", $"{e.Message} ({exit}); stderr tail:\n{Tail(stderr)}{Reproducer(program, input, e.Message, "qemu/died")}");
                return FuzzOutcome.Completed;
            }
            catch (QemuHangException e)
            {
                Restart();
                context.Report(OracleHang, "qemu/no-answer", e.Message + Reproducer(program, input, e.Message, "qemu/no-answer"));
                return FuzzOutcome.Completed;
            }
            if (diff is { } d) context.Report(OracleDiff, d.Site, d.Message + Reproducer(program, input, d.Message, d.Site));
        }
        return FuzzOutcome.Completed;
    }

    /// <summary>Compares the halves; returns the finding's site and message, or null when they agree or the table
    /// explains how they differ.</summary>
    private (string Site, string Message)? Judge(FuzzContext context, bool markOutcome)
    {
        List<BlkDifference> diffs = BlkComparison.Compare(_model, _qemu, Lockstep.ModelUsedRing());
        if (markOutcome) MarkOutcome(diffs);
        if (diffs.Count == 0) return null;
        LockstepFacts f = Lockstep.Facts;
        var c = new DifferenceCase(_model, _qemu, diffs, Lockstep.ModelUsedRing(), Lockstep.UsedRingsSeen, f.ModelEverBroken, f.UnalignedRegisterWrite, f.KickBeforeDriverOk, f.DriverWroteStatus, f.RingsOverlap, f.BuffersOverlapInKick, f.ModelBrokenReasons, f.QueueSizeRewritten, Lockstep.ModelAvailIdx(_model));
        IReadOnlyList<QemuDifferenceEntry>? rows = Qemu72Differences.Explain(c, out _);
        if (rows is not null)
        {
            foreach (QemuDifferenceEntry row in rows) Explained[row.Id] = Explained.GetValueOrDefault(row.Id) + 1;
            context.Log?.WriteLine($"explained by QEMU {Qemu72Differences.QemuVersion} table rows {string.Join(", ", rows.Select(r => r.Id))}: {string.Join("; ", diffs.Select(d => d.Kind + ": " + d.Detail))}");
            return null;
        }
        string kinds = string.Join('+', diffs.Select(d => d.Kind));
        var message = new StringBuilder($"model and QEMU {Qemu72Differences.QemuVersion} differ and no table row explains it (classify: model deviation or QEMU bug, see docs/qemu-backend.md):");
        foreach (BlkDifference d in diffs) message.Append("\n  ").Append(d.Kind).Append(": ").Append(d.Detail);
        return ("qemu72/" + kinds, message.ToString());
    }

    /// <summary>QEMU's coarse observable outcome (<see cref="QemuOutcome"/>) as synthetic coverage: a new outcome sets
    /// a new edge, so the input is kept even when the model's edges are old.</summary>
    private void MarkOutcome(List<BlkDifference> diffs)
    {
        ulong h = QemuOutcome.Hash(QemuOutcome.Describe(_qemu, Lockstep.ModelRing(), Lockstep.Indirect, diffs.Select(d => d.Kind)));
        _outcomes.Add(h);
        CoverageMap.Edges[(int)(h % CoverageMap.Size)]++;
    }

    private static QemuMachine StartMachine(string program)
    {
        QemuMachine m = QemuMachine.Start(program, Serial, Disk, AnswerMax);
        Lockstep.Attach(m);
        return m;
    }

    private static void Restart()
    {
        _roundTrips += _machine?.Qtest.RoundTrips ?? 0;
        _commands += _machine?.Qtest.Commands ?? 0;
        _machine?.Dispose();
        _machine = null;
    }

    /// <summary>CPU time of the shared QEMU so far (zero when none runs).</summary>
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

    /// <summary>Writes the standalone reproducer (see <see cref="QemuReproducer"/>) and returns a line naming
    /// it.</summary>
    private string Reproducer(string program, ReadOnlySpan<byte> input, string note, string site) =>
        _reproducers.Line(ReproducerDirectory, site, input, (bytes, dir) => QemuReproducer.Write(program, bytes, dir, note));

    private readonly ReproducerSites _reproducers = new();

    private static string Tail(string text) => text.Length <= 4000 ? text : text[^4000..];
}
