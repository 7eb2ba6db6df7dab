using Sim.Engine.Trace;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Qemu;
using Virtsim.Fuzz.Targets;
using Xunit.Abstractions;

namespace Fuzz.Tests.FindingTraces;

/// <summary>Every fuzz target's executions become traces that replay (issue 5, "Findings": a trace that
/// <c>virtsim replay</c> reproduces deterministically).</summary>
public sealed class FindingTraceTests(ITestOutputHelper output) : IDisposable
{
    private const ulong CampaignSeed = 7;

    private readonly string _dir = Directory.CreateTempSubdirectory("virtsim-finding-traces-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The model targets; the real-QEMU ones run in <see cref="QemuFindingTraceTests"/>, one at a time with
    /// the other classes that drive QEMU.</summary>
    public static TheoryData<string> Targets()
    {
        var data = new TheoryData<string>();
        foreach (IFuzzTarget t in FuzzTargets.All.Where(t => t is not RealQemuTarget))
            data.Add(t.Name);
        return data;
    }

    private static IFuzzTarget Create(string name) =>
        FuzzTargets.Create(name) ?? throw new InvalidOperationException(name);

    private static FindingTraceResult Replay(byte[] trace)
    {
        using var stream = new MemoryStream(trace);
        Assert.True(TraceReader.TryOpen(stream, out TraceReader? reader, out TraceError? error), error?.Message);
        using (reader)
            return FindingTrace.Replay(reader);
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void SeedInputs_RecordedTraces_ReplayAndMatch(string name) => CheckSeedTraces(name, output);

    /// <summary>The first three seeds of <paramref name="name"/> recorded: each trace replays and matches.</summary>
    internal static void CheckSeedTraces(string name, ITestOutputHelper output)
    {
        IFuzzTarget target = Create(name);
        foreach (byte[] seed in target.SeedCorpus().Take(3))
        {
            FindingTraceRecording rec = FindingTrace.Record(target, seed, ExecutionLimits.Default, CampaignSeed);
            Assert.True(rec.Consistent, "recording must not change what the execution does");
            FindingTraceResult r = Replay(rec.Trace);
            output.WriteLine($"{name}: {seed.Length} bytes, {r.Events} events: {r.Verdict} {r.Detail}");
            Assert.Equal(FindingTraceVerdict.Match, r.Verdict);
            Assert.Equal(rec.Finding?.Key, r.Finding?.Key);
            Assert.True(r.Events > 1, "the target's hooks must record what the execution did, not only the verdict");
        }
    }

    [Theory]
    [InlineData("virtio-demo-qemu-robust")]
    [InlineData("virtio-blk-qemu-seed")]
    [InlineData("virtio-demo-diff-robust")]
    [InlineData("virtio-pci-qemu-robust")]
    public void RegisterTargets_RecordTheDriversRegisterAccesses(string name)
    {
        // The rigs call the buses directly (no vCPU exit), so the trace shows the driver's initialisation only because
        // the targets emit it: configuration mechanism #1 as port writes, the capabilities as MMIO, in time order.
        IFuzzTarget target = Create(name);
        FindingTraceRecording rec = FindingTrace.Record(
            target,
            target.SeedCorpus().First(),
            ExecutionLimits.Default,
            CampaignSeed
        );
        using var stream = new MemoryStream(rec.Trace);
        Assert.True(TraceReader.TryOpen(stream, out TraceReader? reader, out TraceError? error), error?.Message);
        int mmioWrites = 0,
            portWrites = 0;
        long last = long.MinValue;
        bool ordered = true;
        using (reader)
        {
            while (reader.TryReadNext(out TraceEvent ev, out _))
            {
                if (ev.Kind == TraceEventKind.MmioWrite)
                    mmioWrites++;
                if (ev.Kind == TraceEventKind.PioOut && ev.Address is 0xCF8 or 0xCFC)
                    portWrites++;
                ordered &= ev.Time >= last;
                last = ev.Time;
            }
        }
        Assert.True(mmioWrites >= 5, $"{mmioWrites} MMIO writes");
        Assert.True(portWrites >= 2, $"{portWrites} config-space port writes");
        // The diff target records two simulations (QEMU-style, then vhost), each on its own clock.
        if (!name.Contains("-diff-", StringComparison.Ordinal))
            Assert.True(ordered, "event times never go backwards");
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void CampaignFindings_SaveTraces_ThatReproduceTheFinding(string name) =>
        CheckCampaignTraces(name, _dir, output);

    /// <summary>A 300-run campaign on <paramref name="name"/>: every saved finding's trace reproduces it.</summary>
    internal static void CheckCampaignTraces(string name, string dir, ITestOutputHelper output)
    {
        IFuzzTarget target = Create(name);
        var options = new CampaignOptions
        {
            Seed = CampaignSeed,
            RunsMax = 300,
            FindingsDirectory = dir,
            MinimizeExecutionsMax = 200,
        };
        CampaignResult result = new FuzzCampaign(target, options, new NullCoverage("test")).Run();
        output.WriteLine($"{name}: {result.Findings.Count} findings (campaign seed {CampaignSeed})");
        foreach (Finding f in result.Findings.Where(f => f.SavedDirectory is not null))
        {
            string tracePath = Path.Combine(f.SavedDirectory!, FindingTrace.FileName);
            Assert.True(File.Exists(tracePath));
            FindingTraceResult r = Replay(File.ReadAllBytes(tracePath));
            output.WriteLine($"  {f.Oracle} at {f.Site}: {r.Verdict} {r.Detail}");
            Assert.Equal(FindingTraceVerdict.Match, r.Verdict);
            Assert.Contains(
                $"finding reproduced: oracle {f.Oracle} at site {f.Site}",
                r.Detail,
                StringComparison.Ordinal
            );
            string summary = File.ReadAllText(Path.Combine(f.SavedDirectory!, FindingWriter.SummaryFileName));
            Assert.Contains("replay: virtsim replay " + tracePath, summary, StringComparison.Ordinal);
            Assert.Contains("what the guest did", summary, StringComparison.Ordinal);
            Assert.Contains("what the device did", summary, StringComparison.Ordinal);
            Assert.Contains("rule: ", summary, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void SeedFlavourTargets_FindAndReplayFindings()
    {
        // The seed flavours carry the seeds' bugs; a short blind campaign finds each (see the theory above for the
        // rest).
        foreach (
            string name in new[] { "demo-pci-qemu-seed", "virtio-factorial-qemu-seed", "virtio-counter-qemu-seed" }
        )
        {
            var options = new CampaignOptions
            {
                Seed = 1,
                RunsMax = 300,
                FindingsDirectory = Path.Combine(_dir, name),
                MinimizeExecutionsMax = 200,
            };
            CampaignResult result = new FuzzCampaign(Create(name), options, new NullCoverage("test")).Run();
            Assert.NotEmpty(result.Findings);
            foreach (Finding f in result.Findings)
            {
                FindingTraceResult r = Replay(
                    File.ReadAllBytes(Path.Combine(f.SavedDirectory!, FindingTrace.FileName))
                );
                output.WriteLine($"{name}: {r.Detail}");
                Assert.Equal(FindingTraceVerdict.Match, r.Verdict);
                Assert.Equal(f.Report.Key, r.Finding?.Key);
            }
        }
    }

    private static byte[] ModelFinding(out FindingReport report)
    {
        IFuzzTarget target = Create("demo-pci-qemu-seed");
        // writeq 0x2300 at offset 0 then a 4-byte read: the seed's split access leaves buff = 0x2300, the model 0.
        byte[] input = [.. DemoPciTarget.Op(1, 0, 0, 3, 0x2300), .. DemoPciTarget.Op(2, 0, 0, 2, 0)];
        FindingTraceRecording rec = FindingTrace.Record(target, input, ExecutionLimits.Default, 1);
        report = rec.Finding ?? throw new InvalidOperationException("the seed's demo device should break the model");
        return rec.Trace;
    }

    [Fact]
    public void TamperedEventData_Diverges()
    {
        byte[] trace = ModelFinding(out FindingReport report);
        Assert.Equal(FindingTraceVerdict.Match, Replay(trace).Verdict);
        byte[] tampered = TraceRewriter.Rewrite(trace, edit: (i, r) =>
        {
            if (r.Kind != TraceEventKind.MmioRead)
                return r;
            byte[] data = r.Data.ToArray();
            data[0] ^= 0x01;
            return r with { Data = data };
        });
        FindingTraceResult result = Replay(tampered);
        output.WriteLine(result.Detail);
        Assert.Equal(FindingTraceVerdict.Diverged, result.Verdict);
        Assert.Contains("Data", result.Detail, StringComparison.Ordinal);
        Assert.Contains(
            $"oracle {report.Oracle} at site {report.Site} fired again",
            result.Detail,
            StringComparison.Ordinal
        );
    }

    [Fact]
    public void InputThatNoLongerTriggers_IsNotReproduced()
    {
        byte[] trace = ModelFinding(out FindingReport report);
        // The seed's own guest test passes on the seed device: same target, an input that does not fire.
        byte[] harmless = [.. DemoPciTarget.Op(1, 0, 0, 2, 0x1333), .. DemoPciTarget.Op(2, 0, 0, 2, 0)];
        byte[] changed = TraceRewriter.Rewrite(trace, options: o =>
            o[FindingTrace.OptionInput] = Convert.ToHexStringLower(harmless)
        );
        FindingTraceResult result = Replay(changed);
        output.WriteLine(result.Detail);
        Assert.Equal(FindingTraceVerdict.Diverged, result.Verdict);
        Assert.Null(result.Finding);
        Assert.StartsWith(
            $"finding not reproduced: expected oracle {report.Oracle} at site {report.Site}, got no finding",
            result.Detail,
            StringComparison.Ordinal
        );
    }

    [Theory]
    [InlineData(FindingTrace.OptionTarget, "no-such-target", "unknown fuzz target 'no-such-target'")]
    [InlineData(FindingTrace.OptionInput, "0g", "is not an even-length hex string")]
    [InlineData(FindingTrace.OptionInput, "123", "is not an even-length hex string")]
    [InlineData(FindingTrace.OptionInputVersion, "99", "the trace's input is v99")]
    [InlineData(FindingTrace.OptionStepsMax, "-1", "must be positive integers")]
    public void BadOptions_AreErrors(string key, string value, string message)
    {
        byte[] trace = TraceRewriter.Rewrite(ModelFinding(out _), options: o => o[key] = value);
        FindingTraceResult result = Replay(trace);
        Assert.Equal(FindingTraceVerdict.Error, result.Verdict);
        Assert.Contains(message, result.Detail, StringComparison.Ordinal);
    }
}
