using System.Globalization;
using System.Text;
using Sim.Engine.Random;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;

namespace Virtsim.LabAgent;

/// <summary>
/// The real kernel's vhost core as the oracle of our vhost control-plane model: runs a bounded corpus of vhost-core
/// inputs (the corpus files, the target's seeds and seeded mutations of them) through <see cref="VhostCoreTarget"/>
/// with a <see cref="KernelVhostMirror"/>, so each ioctl goes to the simulated device and to the real device with the
/// same arguments, and tallies every verdict of the mirror's <see cref="VhostIoctlModel"/> (the model's expectation
/// against the real kernel's return value, errno or returned value).
/// </summary>
internal sealed class VhostOracleRun
{
    private readonly Dictionary<string, (long Agree, long Disagree)> _byIoctl = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (long Count, int FirstInput, string Expected, string Actual)> _disagreements =
        new(StringComparer.Ordinal);
    private int _input;

    public long Verdicts { get; private set; }

    public long Agreements { get; private set; }

    public int Inputs { get; private set; }

    public int SimFindings { get; private set; }

    /// <summary>Builds the input list: corpus files (sorted by name), the target's seeds, then mutations of them from
    /// <paramref name="seed"/> until <paramref name="count"/> inputs.</summary>
    public static List<byte[]> Corpus(string? corpusDir, int count, ulong seed, VhostCoreTarget target)
    {
        var inputs = new List<byte[]>();
        if (corpusDir is not null)
        {
            foreach (string f in Directory.GetFiles(corpusDir).OrderBy(f => f, StringComparer.Ordinal))
                inputs.Add(File.ReadAllBytes(f));
        }
        inputs.AddRange(target.SeedCorpus());
        if (inputs.Count == 0)
            throw new InvalidOperationException("no inputs: empty corpus and no seeds");
        var prng = new Prng(seed);
        int bases = inputs.Count;
        var buffer = new byte[VhostCoreInput.HeaderLength + (VhostCoreTarget.OperationsMax * VhostCoreInput.OpLength)];
        while (inputs.Count < count)
        {
            byte[] parent = inputs[(int)(prng.NextUInt64() % (ulong)inputs.Count)];
            int length = Math.Min(parent.Length, buffer.Length);
            parent.AsSpan(0, length).CopyTo(buffer);
            int rounds = 1 + (int)(prng.NextUInt64() % 4);
            for (int r = 0; r < rounds; r++)
                length = target.StructureMutator!.Mutate(buffer, length, prng);
            inputs.Add(buffer.AsSpan(0, length).ToArray());
        }
        _ = bases;
        return inputs;
    }

    public void Run(IReadOnlyList<byte[]> inputs, VhostCoreTarget target, TextWriter log)
    {
        target.MirrorVerdict = Record;
        for (_input = 0; _input < inputs.Count; _input++)
        {
            var context = new FuzzContext();
            target.Execute(inputs[_input], context);
            if (context.Finding is not null)
            {
                SimFindings++;
                log.WriteLine($"input {_input}: the simulated device disagrees with the model: {context.Finding.Site}");
            }
            Inputs++;
        }
    }

    private void Record(VhostModelVerdict v)
    {
        Verdicts++;
        (long a, long d) = _byIoctl.GetValueOrDefault(v.Ioctl);
        _byIoctl[v.Ioctl] = v.Agrees ? (a + 1, d) : (a, d + 1);
        if (v.Agrees)
        {
            Agreements++;
            return;
        }
        string key = $"{v.Ioctl}: model {v.Expected}, kernel {v.Actual}";
        _disagreements[key] = _disagreements.TryGetValue(key, out var e)
            ? (e.Count + 1, e.FirstInput, e.Expected, e.Actual)
            : (1, _input, v.Expected, v.Actual);
    }

    public string Report(string device, ulong seed)
    {
        var sb = new StringBuilder();
        IFormatProvider inv = CultureInfo.InvariantCulture;
        sb.AppendLine(inv, $"device\t{device}");
        sb.AppendLine(inv, $"seed\t{seed}");
        sb.AppendLine(inv, $"inputs\t{Inputs}");
        sb.AppendLine(inv, $"verdicts\t{Verdicts}");
        sb.AppendLine(inv, $"agreements\t{Agreements}");
        sb.AppendLine(inv, $"agreement\t{(Verdicts == 0 ? 0 : 100.0 * Agreements / Verdicts):F3}%");
        sb.AppendLine(inv, $"sim_findings\t{SimFindings}");
        sb.AppendLine("# ioctl\tagree\tdisagree");
        foreach (
            KeyValuePair<string, (long Agree, long Disagree)> kv in _byIoctl.OrderBy(k => k.Key, StringComparer.Ordinal)
        )
            sb.AppendLine(inv, $"ioctl\t{kv.Key}\t{kv.Value.Agree}\t{kv.Value.Disagree}");
        sb.AppendLine("# disagreement\tcount\tfirst_input");
        foreach (
            KeyValuePair<
                string,
                (long Count, int FirstInput, string Expected, string Actual)
            > kv in _disagreements.OrderBy(k => k.Key, StringComparer.Ordinal)
        )
            sb.AppendLine(inv, $"disagreement\t{kv.Key}\t{kv.Value.Count}\t{kv.Value.FirstInput}");
        return sb.ToString();
    }
}
