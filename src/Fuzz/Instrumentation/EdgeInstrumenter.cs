using System.Text;
using Fuzz.Coverage;
using Mono.Cecil;
using Mono.Cecil.Cil;
using Mono.Cecil.Rocks;
using Sim.Engine.Memory;

namespace Fuzz.Instrumentation;

/// <summary>
/// Rewrites an assembly's IL with AFL-style edge instrumentation (SharpFuzz is not available; this is our
/// own Cecil pass). At each basic-block entry it inserts the stack-neutral sequence
/// <code>CoverageMap.Edges[cur ^ CoverageMap.Previous]++; CoverageMap.Previous = cur &gt;&gt; 1;</code>
/// where <c>cur</c> is a compile-time block id: a stable hash of (module name, method token, original IL
/// offset) reduced to 16 bits — random-looking, identical on every run and machine.
/// Block entries are: the method's first instruction, branch and switch targets, the instruction after any
/// branch, return or throw, and try/handler/filter starts. The inserted code takes over the leader
/// instruction object (its opcode is moved to a new instruction behind the probe), so every branch,
/// switch table and exception-handler boundary that pointed at the block now points at its probe.
/// </summary>
public static class EdgeInstrumenter
{
    /// <summary>Bumped whenever the rewriting changes, so cached instrumented assemblies are rebuilt.</summary>
    public const int Version = 2;

    /// <summary>Most IL instructions in a method left uninstrumented as a trivial leaf (see <see cref="IsTrivialLeaf"/>).</summary>
    public const int TrivialLeafInstructionsMax = 8;

    /// <summary>Name of the assembly that holds <see cref="CoverageMap"/>.</summary>
    public static readonly string CoverageAssemblyName = typeof(CoverageMap).Assembly.GetName().Name!;

    /// <summary>Instruments <paramref name="inputPath"/> and writes the result to <paramref name="output"/>.
    /// <paramref name="includeType"/> (full type name → bool) limits which types are rewritten; null means all.</summary>
    public static InstrumentationResult Instrument(string inputPath, Stream output, Func<string, bool>? includeType = null)
    {
        var resolver = new DefaultAssemblyResolver();
        resolver.AddSearchDirectory(Path.GetDirectoryName(Path.GetFullPath(inputPath))!);
        using ModuleDefinition module = ModuleDefinition.ReadModule(inputPath, new ReaderParameters
        {
            AssemblyResolver = resolver,
            ReadSymbols = false,
            InMemory = true,
        });
        if (module.Assembly.CustomAttributes.Any(a => a.AttributeType.FullName == typeof(EdgeInstrumentedAttribute).FullName))
        {
            throw new InvalidOperationException($"{inputPath} is already instrumented");
        }
        if (module.Assembly.Name.Name == CoverageAssemblyName)
        {
            throw new InvalidOperationException($"{CoverageAssemblyName} holds the coverage map and cannot be instrumented");
        }

        var probe = new ProbeReferences(module);
        byte[] moduleName = Encoding.UTF8.GetBytes(module.Name);
        int methods = 0;
        int blocks = 0;
        foreach (TypeDefinition type in module.GetTypes())
        {
            if (includeType is not null && !includeType(type.FullName)) continue;
            foreach (MethodDefinition method in type.Methods)
            {
                if (!method.HasBody || method.Body.Instructions.Count == 0 || IsTrivialLeaf(method.Body)) continue;
                blocks += InstrumentMethod(method, probe, moduleName);
                methods++;
            }
        }

        var mark = new CustomAttribute(probe.MarkConstructor);
        mark.ConstructorArguments.Add(new CustomAttributeArgument(module.TypeSystem.Int32, blocks));
        module.Assembly.CustomAttributes.Add(mark);
        // Cecil reads the image back to hash it for the deterministic MVID: write to memory, then copy out.
        using var image = new MemoryStream();
        module.Write(image, new WriterParameters { DeterministicMvid = true });
        image.Position = 0;
        image.CopyTo(output);
        return new InstrumentationResult(module.Assembly.Name.Name, methods, blocks);
    }

    /// <summary>The 16-bit block id for (module, method token, IL offset).</summary>
    public static int BlockId(ReadOnlySpan<byte> moduleName, uint methodToken, int ilOffset)
    {
        var h = new StableHash64();
        h.Add(moduleName);
        h.AddUInt64(methodToken);
        h.AddUInt64((ulong)ilOffset);
        return (int)(h.Finish() & (CoverageMap.Size - 1));
    }

    /// <summary>
    /// True for a method of one basic block that calls nothing (field getters and setters, <c>RingIndex.Value</c>):
    /// its only edge repeats the caller's path, and a probe would make it too large for the JIT to inline, which
    /// costs the fuzzer far more than the edge is worth. AFL instruments optimised code, where such leaves are
    /// already inlined into their callers; this keeps the instrumented build the same shape.
    /// </summary>
    public static bool IsTrivialLeaf(MethodBody body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (body.HasExceptionHandlers || body.Instructions.Count > TrivialLeafInstructionsMax) return false;
        foreach (Instruction ins in body.Instructions)
        {
            // Branches, calls (and newobj), throws: more than one block, or not a leaf.
            if (ins.OpCode.FlowControl is not (FlowControl.Next or FlowControl.Return)) return false;
        }
        return true;
    }

    private static int InstrumentMethod(MethodDefinition method, ProbeReferences probe, byte[] moduleName)
    {
        MethodBody body = method.Body;
        body.SimplifyMacros();
        var instructions = body.Instructions;
        var leaders = new HashSet<Instruction> { instructions[0] };
        for (int i = 0; i < instructions.Count; i++)
        {
            Instruction ins = instructions[i];
            switch (ins.Operand)
            {
                case Instruction target:
                    leaders.Add(target);
                    break;
                case Instruction[] targets:
                    foreach (Instruction t in targets) leaders.Add(t);
                    break;
            }
            FlowControl flow = ins.OpCode.FlowControl;
            if (flow is FlowControl.Branch or FlowControl.Cond_Branch or FlowControl.Return or FlowControl.Throw && i + 1 < instructions.Count)
            {
                leaders.Add(instructions[i + 1]);
            }
        }
        foreach (ExceptionHandler handler in body.ExceptionHandlers)
        {
            if (handler.TryStart is not null) leaders.Add(handler.TryStart);
            if (handler.HandlerStart is not null) leaders.Add(handler.HandlerStart);
            if (handler.FilterStart is not null) leaders.Add(handler.FilterStart);
        }

        // Walk a snapshot in original order so ids use original offsets and insertion does not disturb the walk.
        Instruction[] original = instructions.ToArray();
        int[] offsets = original.Select(i => i.Offset).ToArray();
        uint token = method.MetadataToken.ToUInt32();
        ILProcessor il = body.GetILProcessor();
        int count = 0;
        for (int k = 0; k < original.Length; k++)
        {
            Instruction leader = original[k];
            if (!leaders.Contains(leader)) continue;
            int cur = BlockId(moduleName, token, offsets[k]);

            // Move the leader's own instruction behind the probe; the leader object becomes the probe's first
            // instruction, so everything that referenced the block start now runs the probe first.
            Instruction moved = il.Create(OpCodes.Nop);
            moved.OpCode = leader.OpCode;
            moved.Operand = leader.Operand;
            leader.OpCode = OpCodes.Ldsfld;
            leader.Operand = probe.Edges;

            Instruction[] rest =
            [
                il.Create(OpCodes.Ldc_I4, cur),
                il.Create(OpCodes.Ldsfld, probe.Previous),
                il.Create(OpCodes.Xor),
                il.Create(OpCodes.Ldelema, probe.Byte),
                il.Create(OpCodes.Dup),
                il.Create(OpCodes.Ldind_U1),
                il.Create(OpCodes.Ldc_I4_1),
                il.Create(OpCodes.Add),
                il.Create(OpCodes.Stind_I1),
                il.Create(OpCodes.Ldc_I4, cur >> 1),
                il.Create(OpCodes.Stsfld, probe.Previous),
                moved,
            ];
            Instruction after = leader;
            foreach (Instruction r in rest)
            {
                il.InsertAfter(after, r);
                after = r;
            }
            count++;
        }
        body.OptimizeMacros();
        return count;
    }

    /// <summary>References, from the module being rewritten, to the coverage map's fields and the mark
    /// attribute in Virtsim.Fuzz (built by name so no runtime-private assembly such as
    /// System.Private.CoreLib leaks into the rewritten metadata).</summary>
    private sealed class ProbeReferences
    {
        public ProbeReferences(ModuleDefinition module)
        {
            System.Reflection.AssemblyName fuzzName = typeof(CoverageMap).Assembly.GetName();
            AssemblyNameReference? scope = module.AssemblyReferences.FirstOrDefault(r => r.Name == fuzzName.Name);
            if (scope is null)
            {
                scope = new AssemblyNameReference(fuzzName.Name, fuzzName.Version);
                module.AssemblyReferences.Add(scope);
            }
            var mapType = new TypeReference(typeof(CoverageMap).Namespace, nameof(CoverageMap), module, scope);
            Byte = module.TypeSystem.Byte;
            Edges = new FieldReference(nameof(CoverageMap.Edges), new ArrayType(Byte), mapType);
            Previous = new FieldReference(nameof(CoverageMap.Previous), module.TypeSystem.Int32, mapType);
            var markType = new TypeReference(typeof(EdgeInstrumentedAttribute).Namespace, nameof(EdgeInstrumentedAttribute), module, scope);
            MarkConstructor = new MethodReference(".ctor", module.TypeSystem.Void, markType) { HasThis = true };
            MarkConstructor.Parameters.Add(new ParameterDefinition(module.TypeSystem.Int32));
        }

        public TypeReference Byte { get; }

        public FieldReference Edges { get; }

        public FieldReference Previous { get; }

        public MethodReference MarkConstructor { get; }
    }
}
