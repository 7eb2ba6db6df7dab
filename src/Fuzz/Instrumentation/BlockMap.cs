using System.Globalization;
using System.Text;
using Mono.Cecil;
using Mono.Cecil.Cil;
using Mono.Cecil.Rocks;

namespace Virtsim.Fuzz.Instrumentation;

/// <summary>
/// Which IL location, and so which source lines, each SharpFuzz probe of an instrumented assembly guards: the
/// side file (<c>&lt;name&gt;.dll.blocks</c>) written beside every instrumented assembly, which
/// <c>virtsim fuzz report</c> uses to turn hit block ids into hit source lines.
/// <para>Derived, not guessed: SharpFuzz (Method.cs) inserts a fixed probe before each block leader and otherwise
/// keeps every original instruction in order (only short and long branch forms may change), so removing the probes
/// from an instrumented method leaves the original instruction list. Each probe therefore guards the original
/// instruction with the same ordinal, whose IL offset the original assembly's portable PDB maps to sequence
/// points. Methods are paired by type and position and the remaining opcodes are compared one by one; any mismatch
/// throws (a SharpFuzz that changed its rewriting must not produce a silently wrong report).</para>
/// </summary>
public static class BlockMap
{
    /// <summary>SharpFuzz.Common's trace type, whose fields every probe loads and stores.</summary>
    public const string TraceType = "SharpFuzz.Common.Trace";

    internal const string FileSuffix = ".blocks";

    /// <summary>Sequence points on this line are hidden (compiler-generated code), ECMA-335 portable PDB.</summary>
    private const int HiddenLine = 0xFEEFEE;

    /// <summary>The probes of <paramref name="instrumentedPath"/>, traced to <paramref name="originalPath"/> and its
    /// PDB (read when present beside it).</summary>
    public static IReadOnlyList<BlockSite> Build(string originalPath, string instrumentedPath)
    {
        bool symbols = File.Exists(Path.ChangeExtension(originalPath, ".pdb"));
        using ModuleDefinition original = ModuleDefinition.ReadModule(
            originalPath,
            new ReaderParameters { ReadSymbols = symbols, InMemory = true }
        );
        using ModuleDefinition instrumented = ModuleDefinition.ReadModule(
            instrumentedPath,
            new ReaderParameters { InMemory = true }
        );
        var originals = new Dictionary<string, TypeDefinition>(StringComparer.Ordinal);
        foreach (TypeDefinition type in original.GetTypes())
            originals.Add(type.FullName, type);
        var sites = new List<BlockSite>();
        foreach (TypeDefinition type in instrumented.GetTypes())
        {
            // Overloads can share a full name (modifiers Cecil does not print), so methods pair by their position in
            // the type, which neither SharpFuzz nor dnlib's writer reorders; names and IL are checked below.
            if (
                !originals.TryGetValue(type.FullName, out TypeDefinition? source)
                || source.Methods.Count != type.Methods.Count
            )
            {
                throw new InvalidOperationException($"{type.FullName} does not match {originalPath}");
            }
            for (int i = 0; i < type.Methods.Count; i++)
            {
                MethodDefinition method = type.Methods[i];
                if (method.FullName != source.Methods[i].FullName)
                    throw new InvalidOperationException(
                        $"{method.FullName} is not method {i} of {type.FullName} in {originalPath}"
                    );
                if (method.HasBody)
                    Trace(method, source.Methods[i], sites);
            }
        }
        return sites;
    }

    private readonly record struct Probe(int Id, string? Callback, int Ordinal);

    private static void Trace(MethodDefinition instrumented, MethodDefinition original, List<BlockSite> sites)
    {
        // Compare macro-free forms so br.s/br and ldc.i4.s/ldc.i4 count as the same instruction.
        instrumented.Body.SimplifyMacros();
        original.Body.SimplifyMacros();
        IList<Instruction> code = instrumented.Body.Instructions;
        IList<Instruction> plain = original.Body.Instructions;
        var probes = new List<Probe>();
        int ordinal = 0;
        for (int i = 0; i < code.Count; )
        {
            if (IsTraceField(code[i], OpCodes.Ldsfld, "SharedMem"))
            {
                int end = ProbeEnd(code, i, out int id, out string? callback);
                probes.Add(new Probe(id, callback, ordinal));
                i = end;
                continue;
            }
            if (ordinal >= plain.Count || code[i].OpCode != plain[ordinal].OpCode)
            {
                throw new InvalidOperationException(
                    $"{original.FullName}: instrumented instruction {i} ({code[i].OpCode}) does not match original "
                        + $"instruction {ordinal}"
                );
            }
            ordinal++;
            i++;
        }
        if (ordinal != plain.Count)
            throw new InvalidOperationException(
                $"{original.FullName}: {plain.Count} original instructions, {ordinal} after removing probes"
            );
        if (probes.Count == 0)
            return;

        var points = original.DebugInformation.HasSequencePoints ? original.DebugInformation.SequencePoints : null;
        for (int p = 0; p < probes.Count; p++)
        {
            int start = plain[probes[p].Ordinal].Offset;
            // The block runs to the next probed instruction (several probes may guard one instruction only if
            // SharpFuzz changed; then the later ones get an empty block).
            int end = p + 1 < probes.Count ? plain[probes[p + 1].Ordinal].Offset : int.MaxValue;
            string? document = null;
            var lines = new SortedSet<int>();
            if (points is not null)
            {
                foreach (SequencePoint sp in points)
                {
                    if (sp.Offset < start || sp.Offset >= end || sp.StartLine == HiddenLine || sp.StartLine <= 0)
                        continue;
                    document ??= sp.Document.Url;
                    if (sp.Document.Url != document)
                        continue;
                    for (int line = sp.StartLine; line <= sp.EndLine; line++)
                        lines.Add(line);
                }
            }
            sites.Add(
                new BlockSite(probes[p].Id, probes[p].Callback ?? original.FullName, start, document, [.. lines])
            );
        }
    }

    /// <summary>The index after the probe starting at <paramref name="i"/>: <c>ldsfld SharedMem; ldc.i4 id;
    /// ldsfld PrevLocation; xor; add; dup; ldind.u1; ldc.i4.1; add; conv.u1; stind.i1; ldc.i4 id&gt;&gt;1;
    /// stsfld PrevLocation</c>, then, in a callback build, <c>ldsfld OnBranch; ldc.i4 id; ldstr method; callvirt
    /// Invoke</c>.</summary>
    private static int ProbeEnd(IList<Instruction> code, int i, out int id, out string? callback)
    {
        const int Length = 13;
        if (
            i + Length > code.Count
            || code[i + 1].OpCode != OpCodes.Ldc_I4
            || !IsTraceField(code[i + 2], OpCodes.Ldsfld, "PrevLocation")
            || !IsTraceField(code[i + 12], OpCodes.Stsfld, "PrevLocation")
        )
        {
            throw new InvalidOperationException($"unrecognised SharpFuzz probe at instruction {i}");
        }
        id = (int)code[i + 1].Operand;
        callback = null;
        int end = i + Length;
        if (
            end + 4 <= code.Count
            && IsTraceField(code[end], OpCodes.Ldsfld, "OnBranch")
            && code[end + 2].OpCode == OpCodes.Ldstr
        )
        {
            callback = (string)code[end + 2].Operand;
            end += 4;
        }
        return end;
    }

    private static bool IsTraceField(Instruction ins, OpCode op, string name) =>
        ins.OpCode == op && ins.Operand is FieldReference f && f.Name == name && f.DeclaringType.FullName == TraceType;

    /// <summary>Writes the side file: one line per probe, <c>id TAB il-offset TAB method TAB document TAB lines</c>
    /// (lines comma-separated; empty document and lines when unknown).</summary>
    public static void Write(string path, IEnumerable<BlockSite> sites)
    {
        var text = new StringBuilder();
        foreach (BlockSite s in sites)
        {
            text.Append(s.Id.ToString(CultureInfo.InvariantCulture))
                .Append('\t')
                .Append(s.IlOffset.ToString(CultureInfo.InvariantCulture))
                .Append('\t')
                .Append(s.Method)
                .Append('\t')
                .Append(s.Document ?? "")
                .Append('\t')
                .AppendJoin(',', s.Lines)
                .Append('\n');
        }
        File.WriteAllText(path, text.ToString());
    }

    /// <summary>Reads a side file <see cref="Write"/> made, in file order.</summary>
    /// <exception cref="InvalidDataException">A line does not have the five tab-separated fields.</exception>
    public static IReadOnlyList<BlockSite> Read(string path)
    {
        var sites = new List<BlockSite>();
        foreach (string line in File.ReadLines(path))
        {
            if (line.Length == 0)
                continue;
            string[] f = line.Split('\t');
            if (f.Length != 5)
                throw new InvalidDataException($"{path}: bad line '{line}'");
            int[] lines =
                f[4].Length == 0
                    ? []
                    : f[4].Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray();
            sites.Add(
                new BlockSite(
                    int.Parse(f[0], CultureInfo.InvariantCulture),
                    f[2],
                    int.Parse(f[1], CultureInfo.InvariantCulture),
                    f[3].Length == 0 ? null : f[3],
                    lines
                )
            );
        }
        return sites;
    }
}
