using Mono.Cecil;
using Mono.Cecil.Cil;
using Mono.Cecil.Rocks;

namespace Virtsim.Fuzz.Mutants;

/// <summary>
/// Mutation operators over a compiled device assembly (Mono.Cecil, as the edge instrumenter): enumerates every site
/// where an operator of <see cref="MutationOperator"/> applies in the types an area selects, in a deterministic order
/// (module type order, method order, IL order), and writes a copy of the assembly with exactly one of them applied.
/// Working on IL rather than source means a mutant costs a rewrite (milliseconds), not a build (minutes), so a
/// score over hundreds of mutants fits in a fuzzing budget. Compiler-generated types and methods (lambdas, iterators,
/// property backing) are skipped, as are the always-on assertion helpers (mutating an assertion only weakens it) and
/// the seed flavours' handlers (methods named *Seed*: their flaws are deliberate, robust targets never run them).
/// </summary>
internal static class IlMutator
{
    /// <summary>The areas and the type-name prefixes that belong to each (Sim.Devices namespaces; <c>net</c>: the
    /// virtio-net model, fuzzed by its model target; <c>driver</c>: the
    /// guest driver's split queue in Sim.Guest, whose batch calls the <c>driver-queue</c> target holds to their
    /// references).</summary>
    public static IReadOnlyList<(string Area, string Prefix)> Areas { get; } =
    [
        ("ring", "Sim.Devices.Virtio.Queue."),
        ("device", "Sim.Devices.Virtio.Demo."),
        ("device", "Sim.Devices.Virtio.Factorial."),
        ("device", "Sim.Devices.Virtio.Counter."),
        ("device", "Sim.Devices.Virtio.Blk."),
        ("device", "Sim.Devices.Virtio.Rng."),
        ("net", "Sim.Devices.Virtio.Net."),
        ("vhost", "Sim.Devices.Vhost."),
        ("driver", "Sim.Guest.Virtio.DriverQueue"),
    ];

    /// <summary>The assemblies mutated, in numbering order: Sim.Devices' mutants first (their ids do not depend on
    /// Sim.Guest), then Sim.Guest's.</summary>
    public static IReadOnlyList<string> AssemblyNames { get; } = ["Sim.Devices", "Sim.Guest"];

    /// <summary>Every mutant of the assemblies of <see cref="AssemblyNames"/> in <paramref name="directory"/>,
    /// numbered across them in that order.</summary>
    public static IReadOnlyList<IlMutant> EnumerateAll(string directory)
    {
        var all = new List<IlMutant>();
        foreach (string name in AssemblyNames)
        {
            foreach (IlMutant m in Enumerate(Path.Combine(directory, name + ".dll")))
            {
                all.Add(m with { Id = all.Count });
            }
        }
        return all;
    }

    /// <summary>The simple name of the assembly that holds <paramref name="mutant"/>'s method.</summary>
    public static string AssemblyOf(IlMutant mutant)
    {
        ArgumentNullException.ThrowIfNull(mutant);
        return mutant.Method.StartsWith("Sim.Guest.", StringComparison.Ordinal) ? "Sim.Guest" : "Sim.Devices";
    }

    /// <summary>The area of type <paramref name="fullName"/>, or null when no area holds it.</summary>
    public static string? AreaOf(string fullName)
    {
        foreach ((string area, string prefix) in Areas)
        {
            if (fullName.StartsWith(prefix, StringComparison.Ordinal))
                return area;
        }
        return null;
    }

    /// <summary>Every mutant of <paramref name="assemblyPath"/>, numbered in a deterministic order.</summary>
    public static IReadOnlyList<IlMutant> Enumerate(string assemblyPath)
    {
        using ModuleDefinition module = Read(assemblyPath);
        var mutants = new List<IlMutant>();
        foreach ((MethodDefinition method, string area) in Methods(module))
        {
            IList<Instruction> code = method.Body.Instructions;
            for (int i = 0; i < code.Count; i++)
            {
                foreach ((MutationOperator op, string what) in Applicable(code[i]))
                {
                    mutants.Add(new IlMutant(mutants.Count, area, Name(method), code[i].Offset, op, what));
                }
            }
        }
        return mutants;
    }

    /// <summary>Writes <paramref name="assemblyPath"/> with <paramref name="mutant"/> applied to
    /// <paramref name="output"/>.</summary>
    public static void Apply(string assemblyPath, IlMutant mutant, Stream output)
    {
        ArgumentNullException.ThrowIfNull(mutant);
        using ModuleDefinition module = Read(assemblyPath);
        MethodDefinition method = Methods(module).Select(m => m.Method).FirstOrDefault(m => Name(m) == mutant.Method)
            ?? throw new InvalidOperationException(
                $"mutant {mutant.Id}: method {mutant.Method} not found (another build of the assembly?)"
            );
        Instruction at = method.Body.Instructions.FirstOrDefault(x => x.Offset == mutant.Offset)
            ?? throw new InvalidOperationException($"mutant {mutant.Id}: no instruction at IL_{mutant.Offset:x4}");
        ILProcessor il = method.Body.GetILProcessor();
        switch (mutant.Operator)
        {
            case MutationOperator.NegateBranch:
                at.OpCode = Negated(at.OpCode)
                    ?? throw new InvalidOperationException($"mutant {mutant.Id}: not a conditional branch");
                break;
            case MutationOperator.BoundaryShift:
                at.OpCode = Shifted(at.OpCode)
                    ?? throw new InvalidOperationException($"mutant {mutant.Id}: not a bound comparison");
                break;
            case MutationOperator.ConstantPlusOne:
            {
                int value = SmallConstant(at)
                    ?? throw new InvalidOperationException($"mutant {mutant.Id}: not a small constant");
                at.OpCode = OpCodes.Ldc_I4;
                at.Operand = value + 1;
                break;
            }
            case MutationOperator.RemoveVoidCall:
            {
                var callee = (MethodReference)at.Operand;
                int pops = callee.Parameters.Count + (callee.HasThis ? 1 : 0);
                // The call becomes pops of its arguments; the first reuses the instruction so branch targets stay.
                if (pops == 0)
                {
                    at.OpCode = OpCodes.Nop;
                    at.Operand = null;
                    break;
                }
                at.OpCode = OpCodes.Pop;
                at.Operand = null;
                for (int k = 1; k < pops; k++)
                    il.InsertAfter(at, il.Create(OpCodes.Pop));
                break;
            }
            default:
                throw new InvalidOperationException($"mutant {mutant.Id}: unknown operator");
        }
        // A constant widened to ldc.i4 (five bytes for one) or inserted pops can push a short branch past its
        // signed-byte reach; Cecil would then write a truncated offset and the instrumenter would read a branch to
        // nowhere. Widen every short form, then let Cecil shrink back only those that still fit.
        method.Body.SimplifyMacros();
        method.Body.OptimizeMacros();
        using var image = new MemoryStream();
        module.Write(image, new WriterParameters { DeterministicMvid = true });
        image.Position = 0;
        image.CopyTo(output);
    }

    private static ModuleDefinition Read(string assemblyPath)
    {
        var resolver = new DefaultAssemblyResolver();
        resolver.AddSearchDirectory(Path.GetDirectoryName(Path.GetFullPath(assemblyPath))!);
        return ModuleDefinition.ReadModule(
            assemblyPath,
            new ReaderParameters
            {
                AssemblyResolver = resolver,
                ReadSymbols = false,
                InMemory = true,
            }
        );
    }

    private static IEnumerable<(MethodDefinition Method, string Area)> Methods(ModuleDefinition module)
    {
        foreach (TypeDefinition type in module.GetTypes())
        {
            if (type.Name.Contains('<', StringComparison.Ordinal) || type.CustomAttributes.Any(IsGenerated))
                continue;
            string? area = AreaOf(type.FullName);
            if (area is null)
                continue;
            foreach (MethodDefinition method in type.Methods)
            {
                if (
                    !method.HasBody
                    || method.Name.Contains('<', StringComparison.Ordinal)
                    || method.CustomAttributes.Any(IsGenerated)
                )
                    continue;
                if (
                    method.Name.StartsWith("Assert", StringComparison.Ordinal)
                    || method.Name is "ToString" or "GetHashCode" or "Equals"
                )
                    continue;
                // The seed flavours' handlers hold the seed flaws on purpose; the score is about the robust code.
                if (method.Name.Contains("Seed", StringComparison.Ordinal))
                    continue;
                yield return (method, area);
            }
        }
    }

    private static bool IsGenerated(CustomAttribute a) => a.AttributeType.Name == "CompilerGeneratedAttribute";

    // The generic arity is part of the name: SplitQueue has TryPop(GuestMemory,QueueElement,QueueError&) and the
    // generic TryPop<TRing> with the same parameter names, and Apply must find the method Enumerate listed.
    private static string Name(MethodDefinition method) =>
        method.DeclaringType.FullName
        + "::"
        + method.Name
        + (method.HasGenericParameters ? "`" + Invariant(method.GenericParameters.Count) : "")
        + "("
        + string.Join(",", method.Parameters.Select(p => p.ParameterType.Name))
        + ")";

    /// <summary>A void call the operator may remove: the project's own (not System's), except assertions,
    /// constructors and the fuzz hooks (<c>IHostPoison</c>, <c>IHandlerInterleaving</c>, <c>IVhostPopObserver</c>:
    /// null or a no-op in production, so
    /// removing a call to one changes nothing a guest sees, only what the test build checks), plus System's stores
    /// into a buffer (<see cref="IsBufferStore"/>).</summary>
    private static bool IsRemovable(MethodReference m)
    {
        if (m.ReturnType.MetadataType != MetadataType.Void || m.Name == ".ctor")
            return false;
        if (m.Name.StartsWith("Assert", StringComparison.Ordinal))
            return false;
        string type = m.DeclaringType.FullName;
        if (type is "Sim.Devices.IHostPoison" or "Sim.Devices.IHandlerInterleaving")
            return false;
        if (type == "Sim.Devices.Vhost.IVhostPopObserver")
            return false;
        return !type.StartsWith("System.", StringComparison.Ordinal) || IsBufferStore(m);
    }

    /// <summary>System calls that fill a buffer the device answers from: <c>BinaryPrimitives.Write*</c> (a response
    /// or header field), <c>Span.CopyTo</c> / <c>MemoryExtensions.CopyTo</c> (a copy), <c>Span.Clear</c> /
    /// <c>Span.Fill</c>. Removed, the buffer keeps what it held before: a field never set, the uninitialised-data
    /// class the taint oracle judges.</summary>
    private static bool IsBufferStore(MethodReference m)
    {
        string type = m.DeclaringType.Name;
        string ns = m.DeclaringType.Namespace;
        bool binary = ns == "System.Buffers.Binary" && type == "BinaryPrimitives";
        if (binary)
            return m.Name.StartsWith("Write", StringComparison.Ordinal);
        if (ns != "System")
            return false;
        if (type is "MemoryExtensions" or "ReadOnlySpan`1")
            return m.Name == "CopyTo";
        return type == "Span`1" && (m.Name is "CopyTo" or "Clear" or "Fill");
    }

    private static string Invariant(int n) => n.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static IEnumerable<(MutationOperator, string)> Applicable(Instruction x)
    {
        if (Negated(x.OpCode) is { } n)
            yield return (MutationOperator.NegateBranch, $"{x.OpCode.Name} → {n.Name}");
        if (Shifted(x.OpCode) is { } s)
            yield return (MutationOperator.BoundaryShift, $"{x.OpCode.Name} → {s.Name}");
        if (SmallConstant(x) is { } c && x.Next?.OpCode.Code is not (Code.Newarr or Code.Switch))
            yield return (MutationOperator.ConstantPlusOne, $"{c} → {c + 1}");
        if (x.OpCode.Code is Code.Call or Code.Callvirt && x.Operand is MethodReference m && IsRemovable(m))
        {
            yield return (MutationOperator.RemoveVoidCall, $"call {m.DeclaringType.Name}.{m.Name} removed");
        }
    }

    private static OpCode? Negated(OpCode op) =>
        op.Code switch
        {
            Code.Brtrue => OpCodes.Brfalse,
            Code.Brtrue_S => OpCodes.Brfalse_S,
            Code.Brfalse => OpCodes.Brtrue,
            Code.Brfalse_S => OpCodes.Brtrue_S,
            Code.Beq => OpCodes.Bne_Un,
            Code.Beq_S => OpCodes.Bne_Un_S,
            Code.Bne_Un => OpCodes.Beq,
            Code.Bne_Un_S => OpCodes.Beq_S,
            Code.Blt => OpCodes.Bge,
            Code.Blt_S => OpCodes.Bge_S,
            Code.Bge => OpCodes.Blt,
            Code.Bge_S => OpCodes.Blt_S,
            Code.Bgt => OpCodes.Ble,
            Code.Bgt_S => OpCodes.Ble_S,
            Code.Ble => OpCodes.Bgt,
            Code.Ble_S => OpCodes.Bgt_S,
            Code.Blt_Un => OpCodes.Bge_Un,
            Code.Blt_Un_S => OpCodes.Bge_Un_S,
            Code.Bge_Un => OpCodes.Blt_Un,
            Code.Bge_Un_S => OpCodes.Blt_Un_S,
            Code.Bgt_Un => OpCodes.Ble_Un,
            Code.Bgt_Un_S => OpCodes.Ble_Un_S,
            Code.Ble_Un => OpCodes.Bgt_Un,
            Code.Ble_Un_S => OpCodes.Bgt_Un_S,
            _ => null,
        };

    private static OpCode? Shifted(OpCode op) =>
        op.Code switch
        {
            Code.Blt => OpCodes.Ble,
            Code.Blt_S => OpCodes.Ble_S,
            Code.Ble => OpCodes.Blt,
            Code.Ble_S => OpCodes.Blt_S,
            Code.Bgt => OpCodes.Bge,
            Code.Bgt_S => OpCodes.Bge_S,
            Code.Bge => OpCodes.Bgt,
            Code.Bge_S => OpCodes.Bgt_S,
            Code.Blt_Un => OpCodes.Ble_Un,
            Code.Blt_Un_S => OpCodes.Ble_Un_S,
            Code.Ble_Un => OpCodes.Blt_Un,
            Code.Ble_Un_S => OpCodes.Blt_Un_S,
            Code.Bgt_Un => OpCodes.Bge_Un,
            Code.Bgt_Un_S => OpCodes.Bge_Un_S,
            Code.Bge_Un => OpCodes.Bgt_Un,
            Code.Bge_Un_S => OpCodes.Bgt_Un_S,
            _ => null,
        };

    private static int? SmallConstant(Instruction x) =>
        x.OpCode.Code switch
        {
            Code.Ldc_I4_0 => 0,
            Code.Ldc_I4_1 => 1,
            Code.Ldc_I4_2 => 2,
            Code.Ldc_I4_3 => 3,
            Code.Ldc_I4_4 => 4,
            Code.Ldc_I4_5 => 5,
            Code.Ldc_I4_6 => 6,
            Code.Ldc_I4_7 => 7,
            Code.Ldc_I4_8 => 8,
            Code.Ldc_I4_S when x.Operand is sbyte v && v is >= 9 and <= 16 => v,
            _ => null,
        };
}
