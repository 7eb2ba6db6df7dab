using System.Text;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Mutation;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// What every real-QEMU fuzz target shares (docs/qemu-backend.md, "Structure"): the per-input loop and the oracles.
/// <see cref="Execute"/> finds QEMU (an input is rejected, with the reason logged, where it is missing), takes the
/// device's <see cref="QemuSession"/> (one QEMU per process and device, started on the first input, restarted only
/// after it died or hung), lets the device <see cref="Prepare"/> it (attach and a waited reset after a start, else
/// whatever it queues between inputs), <see cref="Run"/>s the input on the model rig and QEMU in lockstep,
/// <see cref="Judge"/>s the two observations against the device's QEMU 7.2 difference table (<see cref="Verdict"/>)
/// and lets the device <see cref="Confirm"/> a difference by its own re-run rule. Oracles: <c>qemu-crash</c> (QEMU
/// exited: abort, assertion, signal, exit(1); its stderr tail is kept), <c>qemu-hang</c> (no qtest/QMP answer within
/// <see cref="AnswerMax"/>) and <c>qemu-diff</c> (a difference no table row explains). Every finding carries a
/// standalone reproducer (<see cref="WriteReproducer"/>, <see cref="QemuReproducer"/>): the QEMU command line and
/// qtest script, recorded once per site on a fresh QEMU. Inputs are <see cref="RingInput"/> v1, the format of the
/// model target of the same device, so corpora and findings move between the two unchanged.
/// </summary>
internal abstract class RealQemuTarget : IFuzzTarget
{
    public const string OracleCrash = "qemu-crash";
    public const string OracleHang = "qemu-hang";
    public const string OracleDiff = "qemu-diff";

    /// <summary>Bound on one qtest or QMP answer.</summary>
    public static readonly TimeSpan AnswerMax = TimeSpan.FromSeconds(5);

    /// <summary>Characters of QEMU's stderr a crash finding keeps (the end).</summary>
    public const int StderrTailMax = 4000;

    private readonly QemuSession _session;
    private readonly string _label;
    private readonly string _sitePrefix;
    private readonly HashSet<ulong> _outcomes = [];
    private readonly ReproducerSites _reproducers = new();
    private string? _reproducerDirectory = QemuReproducer.DefaultDirectory;
    private bool _reproducerDirectorySet;

    /// <param name="session">The device's shared QEMU.</param>
    /// <param name="label">Names the device's table in messages ("rng " gives "rng model and QEMU …", "rng table
    /// rows"; "" for blk).</param>
    /// <param name="sitePrefix">Prefix of a difference finding's site (<c>qemu72-rng/</c>), followed by the
    /// kinds.</param>
    protected RealQemuTarget(QemuSession session, string label, string sitePrefix)
    {
        ArgumentNullException.ThrowIfNull(session);
        _session = session;
        _label = label;
        _sitePrefix = sitePrefix;
    }

    public abstract string Name { get; }

    public abstract string Description { get; }

    public int InputVersion => 1;

    public IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Sim.Spec", "Sim.Devices"];

    public IMutator? StructureMutator { get; } = new ScenarioMutator();

    public IInputMinimizer? Minimizer { get; } = RingInputMinimizer.Create(LockstepDriver.OperationsMax);

    /// <summary>Runs that reproduce a <c>qemu-hang</c> that minimising it may make: each waits out
    /// <see cref="AnswerMax"/> and restarts QEMU (6 s or more on a loaded host), and a campaign used to stall for many
    /// minutes minimising one hang (docs/qemu-backend.md).</summary>
    public const int HangMinimizeRunsMax = 6;

    /// <summary>A <c>qemu-hang</c> is minimised with at most <see cref="HangMinimizeRunsMax"/> reproducing runs; the
    /// other oracles are bounded by the execution budget only.</summary>
    public int? MinimizeFiringRunsMax(string oracle) => oracle == OracleHang ? HangMinimizeRunsMax : null;

    public abstract IEnumerable<byte[]> SeedCorpus();

    /// <summary>Where a finding's standalone reproducer goes (<c>&lt;dir&gt;/&lt;input content name&gt;/</c>):
    /// <c>$VIRTSIM_QEMU_REPRODUCERS</c>, else <c>&lt;findings&gt;/qemu-reproducers</c> of the campaign
    /// (<see cref="UseFindingsDirectory"/>), else <c>findings/qemu-reproducers</c> under the current directory; null
    /// writes none. Setting it wins over the campaign's findings directory.</summary>
    public string? ReproducerDirectory
    {
        get => _reproducerDirectory;
        set
        {
            _reproducerDirectory = value;
            _reproducerDirectorySet = true;
        }
    }

    /// <summary>The campaign's findings directory names the reproducers' (<see cref="QemuReproducer.DirectoryFor"/>)
    /// unless <see cref="ReproducerDirectory"/> was set.</summary>
    public void UseFindingsDirectory(string directory)
    {
        if (!_reproducerDirectorySet)
            _reproducerDirectory = QemuReproducer.DirectoryFor(directory);
    }

    /// <summary>Distinct QEMU outcomes this instance has seen (the guidance measure; see
    /// <see cref="MarkOutcome"/>).</summary>
    public int DistinctOutcomes => _outcomes.Count;

    /// <summary>Differences the table explained, by row id (this instance).</summary>
    public Dictionary<string, int> Explained { get; } = new(StringComparer.Ordinal);

    /// <summary>Null when QEMU can run here, else why not.</summary>
    public static string? Available => QemuBinary.Find() is null ? QemuBinary.MissingReason : null;

    public FuzzOutcome Execute(ReadOnlySpan<byte> input, FuzzContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        string? program = QemuBinary.Find();
        if (program is null)
        {
            context.Log?.WriteLine(Name + ": " + QemuBinary.MissingReason);
            return FuzzOutcome.Rejected;
        }
        lock (_session.Gate)
        {
            (string Site, string Message)? diff;
            bool ran = false; // the input itself ran (a hang before is the previous input's or the host's)
            try
            {
                bool started = _session.EnsureStarted(program);
                Prepare(_session.Machine!, started);
                ran = true;
                Run(input, context);
                diff = Confirm(input, context, Judge(context, first: true));
            }
            catch (QemuDiedException e)
            {
                string stderr = _session.Machine?.StderrAfterExit() ?? "";
                string exit = _session.Machine?.ExitDescription ?? "not started";
                _session.Stop();
                string tail = stderr.Length <= StderrTailMax ? stderr : stderr[^StderrTailMax..];
                // The site names how QEMU died (the asserting function, the signal, the exit message), so distinct
                // aborts stay distinct findings (issue 12 item 6).
                string site = QemuCrashSite.Classify(tail, exit);
                context.Report(
                    OracleCrash,
                    site,
                    $"{e.Message} ({exit}); stderr tail:\n{tail}" + Reproducer(program, input, e.Message, site)
                );
                return FuzzOutcome.Completed;
            }
            catch (QemuHangException e)
            {
                _session.Stop();
                string site = "qemu/no-answer";
                string message = e.Message;
                if (ran && KnownHang() is { } known)
                {
                    site += "/" + known.Id;
                    message =
                        $"known QEMU {Qemu72Differences.QemuVersion} bug {known.Id}: {known.Description}\n{message}";
                }
                context.Report(OracleHang, site, message + Reproducer(program, input, message, site));
                return FuzzOutcome.Completed;
            }
            if (diff is { } d)
            {
                context.Report(OracleDiff, d.Site, d.Message + Reproducer(program, input, d.Message, d.Site));
            }
        }
        return FuzzOutcome.Completed;
    }

    /// <summary>The known QEMU bug a <c>qemu-hang</c> of the input just run is (its id, which becomes the end of the
    /// finding's site, and its description), from what the lockstep saw before QEMU stopped answering; null when the
    /// hang is not a known one (or the device knows none).</summary>
    protected virtual (string Id, string Description)? KnownHang() => null;

    /// <summary>Readies QEMU for the next input: after a start (<paramref name="started"/>) the device attaches
    /// (PCI enumeration, BAR mapping) and resets with a wait; otherwise the reset queued at the end of the last input
    /// stands, and the device may queue more (blk: the disk image).</summary>
    protected abstract void Prepare(QemuMachine machine, bool started);

    /// <summary>Runs <paramref name="input"/> on the model rig and on QEMU in lockstep and observes both halves;
    /// <paramref name="context"/> is null on a re-run (no coverage, no trace).</summary>
    protected abstract void Run(ReadOnlySpan<byte> input, FuzzContext? context);

    /// <summary>Compares the halves of the last run: the finding's site and message, or null when they agree or the
    /// table explains how they differ (<see cref="Verdict"/>). <paramref name="first"/> is the input's first run (the
    /// one that marks the QEMU outcome).</summary>
    protected abstract (string Site, string Message)? Judge(FuzzContext context, bool first);

    /// <summary>The device's rule for a difference of the first run (<paramref name="first"/>, or null): re-run on a
    /// careful or waited path and return what remains; also any clean-up between inputs (net: a drain).</summary>
    protected abstract (string Site, string Message)? Confirm(
        ReadOnlySpan<byte> input,
        FuzzContext context,
        (string Site, string Message)? first
    );

    /// <summary>Writes the standalone reproducer of <paramref name="input"/> into <paramref name="directory"/>, on a
    /// fresh QEMU of <paramref name="program"/> (a <see cref="QemuReproducer"/> method).</summary>
    protected abstract void WriteReproducer(string program, byte[] input, string directory, string note);

    /// <summary>The shared half of <see cref="Judge"/>: null when <paramref name="rows"/> (the ids of the table rows
    /// that explain every difference, or null) explain <paramref name="diffs"/>, counted in <see cref="Explained"/>
    /// and logged when <paramref name="record"/>; else the finding, its site the kinds, its message every difference
    /// and <paramref name="detail"/>.</summary>
    protected (string Site, string Message)? Verdict(
        FuzzContext context,
        IReadOnlyList<IQemuDifference> diffs,
        IEnumerable<string>? rows,
        bool record,
        string? detail = null
    )
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(diffs);
        string version = Qemu72Differences.QemuVersion;
        if (rows is not null)
        {
            if (!record)
                return null;
            List<string> ids = [.. rows];
            foreach (string id in ids)
                Explained[id] = Explained.GetValueOrDefault(id) + 1;
            context.Log?.WriteLine(
                $"explained by QEMU {version} {_label}table rows {string.Join(", ", ids)}: "
                    + string.Join("; ", diffs.Select(d => d.Kind + ": " + d.Detail))
            );
            return null;
        }
        var message = new StringBuilder(
            $"{_label}model and QEMU {version} differ and no table row explains it "
                + "(classify: model deviation or QEMU bug, see docs/qemu-backend.md):"
        );
        foreach (IQemuDifference d in diffs)
            message.Append("\n  ").Append(d.Kind).Append(": ").Append(d.Detail);
        message.Append(detail);
        return (_sitePrefix + string.Join('+', diffs.Select(d => d.Kind)), message.ToString());
    }

    /// <summary>The model's break reasons, as a line of a finding's message ("" when it did not break).</summary>
    protected static string ModelBroke(LockstepFacts facts)
    {
        ArgumentNullException.ThrowIfNull(facts);
        return facts.ModelBrokenReasons.Count == 0
            ? ""
            : "\n  model broke: " + string.Join("; ", facts.ModelBrokenReasons);
    }

    /// <summary>QEMU's coarse observable outcome (<see cref="QemuOutcome"/>, <see cref="LockstepOutcome"/>) as
    /// synthetic coverage: a new outcome sets a new edge, so the input is kept even when the model's edges are
    /// old.</summary>
    protected void MarkOutcome(string outcome)
    {
        ulong h = QemuOutcome.Hash(outcome);
        _outcomes.Add(h);
        CoverageMap.Edges[(int)(h % CoverageMap.Size)]++;
    }

    /// <summary>Writes the reproducer (once per site) and returns a line naming it.</summary>
    private string Reproducer(string program, ReadOnlySpan<byte> input, string note, string site) =>
        _reproducers.Line(ReproducerDirectory, site, input, (bytes, dir) => WriteReproducer(program, bytes, dir, note));
}
