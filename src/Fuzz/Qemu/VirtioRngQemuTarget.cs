using System.Text;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Mutation;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// <c>virtio-rng-qemu-real</c>: the real QEMU's virtio-rng-pci (qemu-system-x86_64 with the rng-builtin backend, driven
/// through qtest) against our robust rng model on the same input, in the byte format of <c>virtio-rng-qemu-robust</c>
/// (<see cref="RingInput"/> v1). Oracles as <see cref="VirtioBlkQemuTarget"/>'s: <c>qemu-crash</c>, <c>qemu-hang</c>,
/// <c>qemu-diff</c> (the observations differ and no row of <see cref="RngQemu72Differences"/> explains it). Compared:
/// used entries (id, len) and the rest of the used rings, every guest byte but the entropy the model wrote, broken or
/// not, device status, ISR. An input with an unexplained difference runs again on a fresh reset (answered, after
/// QEMU's 1 ms rate-limit period) before it is reported, with a standalone reproducer (<see cref="QemuReproducer.WriteRng"/>).
/// Guidance as blk's: the model's IL edges plus one synthetic edge per new QEMU outcome (<see cref="RngOutcome"/>).
/// One QEMU per process, shared by every instance.
/// </summary>
public sealed class VirtioRngQemuTarget : IFuzzTarget
{
    public const string TargetName = "virtio-rng-qemu-real";

    private static readonly object Gate = new();
    private static QemuMachine? _machine;
    private static readonly VirtioRngLockstep Lockstep = new();
    private readonly RngObservation _model = new(VirtioRngLockstep.MemoryBytes);
    private readonly RngObservation _qemu = new(VirtioRngLockstep.MemoryBytes);
    private readonly HashSet<ulong> _outcomes = [];

    /// <summary>Where a finding's standalone reproducer goes (as <see cref="VirtioBlkQemuTarget.ReproducerDirectory"/>:
    /// <c>$VIRTSIM_QEMU_REPRODUCERS</c>, else <c>findings/qemu-reproducers</c>); null writes none.</summary>
    public string? ReproducerDirectory { get; set; } = QemuReproducer.DefaultDirectory;

    /// <summary>Distinct QEMU outcomes this instance has seen (the guidance measure).</summary>
    public int DistinctOutcomes => _outcomes.Count;

    public string Name => TargetName;

    public string Description => "real QEMU virtio-rng-pci (rng-builtin, qemu-system-x86_64 via qtest) differential against the robust rng model, input format of virtio-rng-qemu-robust; oracles qemu-crash, qemu-hang, qemu-diff (QEMU 7.2 rng table)";

    public int InputVersion => 1;

    public IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Sim.Spec", "Sim.Devices"];

    public IMutator? StructureMutator { get; } = new ScenarioMutator();

    public IInputMinimizer? Minimizer { get; } = RingInputMinimizer.Create(VirtioRngLockstep.OperationsMax);

    /// <summary>Inputs whose first run showed an unexplained difference and ran again (process-wide).</summary>
    public static long Reruns { get; private set; }

    /// <summary>Differences the re-run did not confirm, by kinds (should stay rare).</summary>
    public static Dictionary<string, int> FirstRunOnly { get; } = new(StringComparer.Ordinal);

    /// <summary>The facts of the last input run (process-wide, for tests and triage).</summary>
    public static RngRunFacts LastFacts => Lockstep.Facts;

    /// <summary>Kicks whose used.idx agreed only after more than one read (QEMU's backend answering late).</summary>
    public static long LateSettles => Lockstep.LateSettles;

    /// <summary>Differences the table explained, by row id (this instance).</summary>
    public Dictionary<string, int> Explained { get; } = new(StringComparer.Ordinal);

    /// <summary>Null when QEMU can run here, else why not.</summary>
    public static string? Available => VirtioBlkQemuTarget.Available;

    public IEnumerable<byte[]> SeedCorpus() => RngSeeds.All().Concat(RingSeeds.Backend());

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
                if (_machine is null)
                {
                    _machine = QemuMachine.StartRng(program, VirtioBlkQemuTarget.AnswerMax);
                    Lockstep.Attach(_machine);
                    Lockstep.ResetQemu(wait: true);
                }
                Lockstep.Run(input, _model, _qemu, context);
                diff = Judge(context, markOutcome: true);
                // A difference is confirmed by re-runs on a waited reset, each after a longer pause: past the rate
                // limiter's 1 ms period (QemuCommandLine.RngMaxBytes), then past late entropy callbacks of the
                // input before (rng-builtin answers from QEMU's main loop; a loaded host delays it).
                string? first = diff?.Site;
                foreach (int pauseMs in (ReadOnlySpan<int>)[2, 20])
                {
                    if (diff is null) break;
                    Reruns++;
                    Thread.Sleep(pauseMs);
                    Lockstep.ResetQemu(wait: true);
                    Lockstep.Run(input, _model, _qemu, context: null);
                    diff = Judge(context, markOutcome: false);
                }
                if (first is not null && diff is null) lock (FirstRunOnly) FirstRunOnly[first] = FirstRunOnly.GetValueOrDefault(first) + 1;
            }
            catch (QemuDiedException e)
            {
                string stderr = _machine?.StderrAfterExit() ?? "";
                string exit = _machine?.ExitDescription ?? "not started";
                Restart();
                context.Report(VirtioBlkQemuTarget.OracleCrash, "qemu/died", $"{e.Message} ({exit}); stderr tail:\n{(stderr.Length <= 4000 ? stderr : stderr[^4000..])}{Reproducer(program, input, e.Message, "qemu/died")}");
                return FuzzOutcome.Completed;
            }
            catch (QemuHangException e)
            {
                Restart();
                context.Report(VirtioBlkQemuTarget.OracleHang, "qemu/no-answer", e.Message + Reproducer(program, input, e.Message, "qemu/no-answer"));
                return FuzzOutcome.Completed;
            }
            if (diff is { } d) context.Report(VirtioBlkQemuTarget.OracleDiff, d.Site, d.Message + Reproducer(program, input, d.Message, d.Site));
        }
        return FuzzOutcome.Completed;
    }

    private (string Site, string Message)? Judge(FuzzContext context, bool markOutcome)
    {
        List<RngDifference> diffs = RngComparison.Compare(_model, _qemu, Lockstep.UsedRingsSeen);
        if (markOutcome) MarkOutcome(diffs);
        if (diffs.Count == 0) return null;
        var c = new RngCase(_model, _qemu, Lockstep.Facts, Lockstep.UsedRingsSeen);
        IReadOnlyList<RngDifferenceRow>? rows = RngQemu72Differences.Explain(c, diffs);
        if (rows is not null)
        {
            foreach (RngDifferenceRow row in rows) Explained[row.Id] = Explained.GetValueOrDefault(row.Id) + 1;
            context.Log?.WriteLine($"explained by QEMU {RngQemu72Differences.QemuVersion} rng table rows {string.Join(", ", rows.Select(r => r.Id))}: {string.Join("; ", diffs.Select(d => d.Kind + ": " + d.Detail))}");
            return null;
        }
        var message = new StringBuilder($"rng model and QEMU {RngQemu72Differences.QemuVersion} differ and no table row explains it (classify: model deviation or QEMU bug, see docs/qemu-backend.md):");
        foreach (RngDifference d in diffs) message.Append("\n  ").Append(d.Kind).Append(": ").Append(d.Detail);
        if (Lockstep.Facts.ModelBrokenReasons.Count > 0) message.Append("\n  model broke: ").Append(string.Join("; ", Lockstep.Facts.ModelBrokenReasons));
        return ("qemu72-rng/" + string.Join('+', diffs.Select(d => d.Kind)), message.ToString());
    }

    /// <summary>QEMU's coarse observable outcome (<see cref="RngOutcome"/>) as synthetic coverage: a new outcome sets a
    /// new edge, so the input is kept even when the model's edges are old.</summary>
    private void MarkOutcome(List<RngDifference> diffs)
    {
        (ulong, int)? used = Lockstep.UsedRingsSeen.Count > 0 ? Lockstep.UsedRingsSeen[^1] : null;
        ulong h = QemuOutcome.Hash(RngOutcome.Describe(_qemu, used, diffs.Select(d => d.Kind)));
        _outcomes.Add(h);
        CoverageMap.Edges[(int)(h % CoverageMap.Size)]++;
    }

    /// <summary>Writes the standalone reproducer (<see cref="QemuReproducer.WriteRng"/>) on a fresh QEMU and returns a
    /// line naming it.</summary>
    private string Reproducer(string program, ReadOnlySpan<byte> input, string note, string site) =>
        _reproducers.Line(ReproducerDirectory, site, input, (bytes, dir) => QemuReproducer.WriteRng(program, bytes, dir, note));

    private readonly ReproducerSites _reproducers = new();

    private static void Restart()
    {
        _machine?.Dispose();
        _machine = null;
    }

    /// <summary>CPU time of the shared rng QEMU so far (zero when none runs).</summary>
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
